//! The handle to a running bus.

use std::sync::Arc;

use actix::prelude::*;
use uuid::Uuid;

use crate::clock::{Clock, TokioClock};
use crate::core::Core;
use crate::directory::{Directory, PoolEntry};
use crate::gate::Gate;
use crate::handoff::Outbox;
use crate::model::{
    CreatePool, CreateQueue, Heartbeat, PoolInfo, PoolUpdate, QueueInfo, QueueUpdate, WorkerInfo,
};
use crate::name::shown;
use crate::pool::{
    AddQueue, DeletePool, DeleteWorker, GetPool, ListWorkers, PoolQueues, PoolShared, QueueSlot,
    RemoveQueue, TakeUnawaited, Unawaited, UpdatePoolAndRead, UpdatePoolQueue, WorkPool,
    WorkerHeartbeat,
};
use crate::queue::{GetQueue, Poll, WorkQueue};
use crate::registry::{Flush, Ingest, Registry, Subscribe, Unsubscribe};
use crate::route::{Answer, Call, Op, Router};
use crate::stats::BusStats;
use crate::subscription::{Deliver, SubscribeOptions, Subscription, SubscriptionId};
use crate::{BusConfig, Error};

/// A pool's actor stops only when the pool is deleted: a message it never
/// answered means the pool is gone, not that the bus stopped.
fn gone(pool: &str) -> impl FnOnce(MailboxError) -> Error + '_ {
    move |_| Error::PoolNotFound(shown(pool))
}

/// Leaves a call nobody waits for in the pool's inbox, and wakes the pool if
/// nothing else had: a burst of them costs the pool one message, not one each.
fn unawaited(entry: &PoolEntry, call: Unawaited) {
    if entry.shared.inbox.push(call) {
        entry.addr.do_send(TakeUnawaited);
    }
}

/// What the tables know of a pool without asking its actor (see [`Bus::find_pools`]).
#[derive(Debug, Clone, Copy)]
pub struct PoolKey<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its id.
    pub id: Uuid,
    /// Its type.
    pub pool_type: &'a str,
}

/// In a fleet, the calls sent without waiting (`heartbeat_nowait`,
/// `update_pool_nowait` for a pool held elsewhere) under way at once, at most.
pub const MAX_UNAWAITED: usize = 1024;

/// Events [`Bus::ingest`] has handed to the registry that it has not yet given to the
/// subscribers, at most: the next ingest waits for a place. Far below the slack a
/// lossless subscriber's hard bound allows (65,536), so a producer that ingests in a
/// tight loop meets the closed gate before any event could be dropped.
pub const MAX_INGESTING: usize = 1024;

/// Builds a [`Bus`]: its settings, its clock, and the arbiter its actors run on.
#[derive(Default)]
pub struct BusBuilder {
    config: BusConfig,
    clock: Option<Arc<dyn Clock>>,
    arbiter: Option<ArbiterHandle>,
    router: Option<Arc<dyn Router>>,
}

impl BusBuilder {
    /// Puts the bus in a fleet: calls for pools it does not hold go to the
    /// router (see [`Router`]).
    pub fn router(mut self, router: Arc<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// The settings.
    pub fn config(mut self, config: BusConfig) -> Self {
        self.config = config;
        self
    }

    /// The clock (default: a [`TokioClock`] anchored now).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The arbiter the registry, pools and queues run on (default: the current one).
    pub fn arbiter(mut self, arbiter: ArbiterHandle) -> Self {
        self.arbiter = Some(arbiter);
        self
    }

    /// Starts the registry and returns the handle. Call it inside an actix system.
    /// The bus keeps everything in memory; [`open`](Self::open) gives it a store.
    pub fn start(self) -> Bus {
        self.build(None)
    }

    /// Starts the bus on `store`: every pool, queue, worker and status the store
    /// holds is rebuilt (actors started, tables filled, deadlines re-armed: see
    /// below) before it answers, and from then on every change is written
    /// through it. A change is answered (and its events published) once it and
    /// its events are on disk together; heartbeats and polls that change
    /// nothing but a time are written lazily, every [`BusConfig::beats_every`].
    ///
    /// A deadline that had passed by the last lazy write before the stop fires
    /// at once, with its events; one that passed while the bus was down gives
    /// the worker or queue a full window from now, so that one still alive
    /// does not flap. The events the store holds are the caller's to read
    /// ([`workbus_store::Store::load`]): the server fills its history with them.
    ///
    /// Refused with [`Error::Store`] when the store cannot be read and
    /// [`Error::CorruptRecord`] when a record cannot be: never an empty bus in
    /// place of a fleet.
    pub fn open(self, store: Arc<dyn workbus_store::Store>) -> Result<Bus, Error> {
        let contents = store.load().map_err(Error::Store)?;
        self.restore(store, contents)
    }

    /// [`open`](Self::open), from contents the caller loaded already (to read the
    /// events out of them first, say).
    pub fn restore(
        self,
        store: Arc<dyn workbus_store::Store>,
        contents: workbus_store::Contents,
    ) -> Result<Bus, Error> {
        let bus = self.build(Some(store));
        crate::restore::restore(&bus.core, contents, None)?;
        let every = bus.core.config.beats_every;
        let weak = Arc::downgrade(&bus.core);
        bus.core
            .arbiter
            .spawn(crate::restore::write_beats(weak, every));
        Ok(bus)
    }

    fn build(self, store: Option<Arc<dyn workbus_store::Store>>) -> Bus {
        let clock = self.clock.unwrap_or_else(|| Arc::new(TokioClock::new()));
        let arbiter = self.arbiter.unwrap_or_else(Arbiter::current);
        let gate = Arc::new(Gate::default());
        let stats = Arc::new(BusStats::default());
        let outbox = Arc::new(Outbox::default());
        let registry = {
            let (clock, gate, stats) = (clock.clone(), gate.clone(), stats.clone());
            let outbox = outbox.clone();
            let turn = self.config.turn_deliveries;
            Registry::start_in_arbiter(&arbiter, move |_| {
                Registry::new(clock, gate, stats, outbox, turn)
            })
        };
        Bus {
            core: Arc::new(Core {
                registry,
                outbox,
                clock,
                config: self.config,
                directory: Directory::default(),
                arbiter,
                gate,
                stats: stats.clone(),
                store,
                beats_written: Default::default(),
                router: self.router,
                unawaited: Arc::new(tokio::sync::Semaphore::new(MAX_UNAWAITED)),
                ingesting: Arc::new(tokio::sync::Semaphore::new(MAX_INGESTING)),
            }),
            stats,
        }
    }
}

/// The handle to a running bus: create and drive pools and queues, subscribe to their events.
///
/// It is cheap to clone and can be used from any thread. Every operation is
/// a message to the actor that owns the state, answered once the actor has
/// acted and emitted its events to the registry. Lookups by name or id go
/// through shared tables, not through an actor.
///
/// # Examples
///
/// ```
/// use workbus_core::{Bus, CreatePool};
///
/// actix::System::new().block_on(async {
///     let bus = Bus::start();
///     let pool = bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
///     bus.heartbeat("etl", "worker-1").await.unwrap();
///     let pool = bus.pool("etl").await.unwrap();
///     assert_eq!(pool.status, Some(workbus_core::Status::Ready));
/// });
/// ```
#[derive(Clone)]
pub struct Bus {
    core: Arc<Core>,
    stats: Arc<BusStats>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("pools", &self.core.directory.pools.len())
            .field("queues", &self.core.directory.queues.len())
            .field("published", &self.stats.published())
            .finish()
    }
}

impl Bus {
    /// A bus with default settings on the current arbiter.
    pub fn start() -> Bus {
        BusBuilder::default().start()
    }

    /// Starts building a bus.
    pub fn builder() -> BusBuilder {
        BusBuilder::default()
    }

    /// The arbiter the registry, pools and queues run on: start subscribers
    /// there to keep fan-out on one thread.
    pub fn arbiter(&self) -> &ArbiterHandle {
        &self.core.arbiter
    }

    /// The bus's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.core.clock
    }

    /// The bus's settings.
    pub fn config(&self) -> &BusConfig {
        &self.core.config
    }

    /// Counters of the whole bus.
    pub fn stats(&self) -> &Arc<BusStats> {
        &self.stats
    }

    fn pool_entry(&self, name: &str) -> Result<PoolEntry, Error> {
        self.pool_ref(name).map(|e| e.clone())
    }

    /// The pool's entry, borrowed: hold it across no `.await`.
    fn pool_ref(
        &self,
        name: &str,
    ) -> Result<dashmap::mapref::one::Ref<'_, compact_str::CompactString, PoolEntry>, Error> {
        self.core
            .directory
            .pools
            .get(name)
            .ok_or_else(|| Error::PoolNotFound(shown(name)))
    }

    fn queue_addr(
        &self,
        pool: &str,
        queue: &str,
    ) -> Result<(PoolEntry, Uuid, Addr<WorkQueue>), Error> {
        let entry = self.pool_entry(pool)?;
        // Pools hold a handful of queues: a scan beats keeping a second index of names.
        let found = entry
            .shared
            .queues()
            .iter()
            .find(|q| q.name == queue)
            .map(|q| (q.id, q.addr.clone()));
        let (id, addr) = found.ok_or_else(|| Error::QueueNotFound {
            pool: shown(pool),
            queue: shown(queue),
        })?;
        Ok((entry, id, addr))
    }

    fn queue_by_id_entry(&self, id: Uuid) -> Result<(Addr<WorkPool>, Addr<WorkQueue>), Error> {
        let d = &self.core.directory;
        let q = d
            .queues
            .get(&id)
            .map(|q| q.clone())
            .ok_or(Error::QueueIdNotFound(id))?;
        let pool_name = d
            .pool_names
            .get(&q.pool_id)
            .map(|n| n.clone())
            .ok_or(Error::QueueIdNotFound(id))?;
        let pool = self
            .pool_entry(&pool_name)
            .map_err(|_| Error::QueueIdNotFound(id))?;
        Ok((pool.addr, q.addr))
    }

    async fn create_pool_here(&self, req: CreatePool) -> Result<PoolInfo, Error> {
        req.validate()?;
        self.core.gate.pass().await;
        let id = Uuid::now_v7();
        // One allocation for the name, shared by the tables, the pool and its queues.
        let name: Arc<str> = req.name.as_str().into();
        let addr = {
            let d = &self.core.directory;
            let key = compact_str::CompactString::from(&*name);
            let max = self.core.config.max_pools;
            if d.pools.len() >= max {
                return Err(Error::LimitReached {
                    what: "work pools".into(),
                    max,
                });
            }
            let dashmap::mapref::entry::Entry::Vacant(slot) = d.pools.entry(key) else {
                return Err(Error::PoolExists(req.name));
            };
            let core = self.core.clone();
            let shared = Arc::new(PoolShared::new(id, &req.pool_type));
            let addr = {
                let shared = shared.clone();
                let name = name.clone();
                WorkPool::start_in_arbiter(&self.core.arbiter, move |_| {
                    WorkPool::new(core, shared, id, name, req)
                })
            };
            slot.insert(PoolEntry {
                addr: addr.clone(),
                shared,
            });
            d.pool_names.insert(id, name.clone());
            addr
        };
        // A client that deleted the pool meanwhile makes it gone, not the bus stopped.
        addr.send(GetPool).await.map_err(gone(&name))
    }

    async fn pool_here(&self, name: &str) -> Result<PoolInfo, Error> {
        self.pool_entry(name)?
            .addr
            .send(GetPool)
            .await
            .map_err(gone(name))
    }

    fn pool_id_here(&self, name: &str) -> Option<Uuid> {
        self.pool_ref(name).ok().map(|e| e.shared.id)
    }

    async fn pool_by_id_here(&self, id: Uuid) -> Result<PoolInfo, Error> {
        let name = self
            .core
            .directory
            .pool_names
            .get(&id)
            .map(|n| n.clone())
            .ok_or(Error::PoolIdNotFound(id))?;
        self.pool_here(&name)
            .await
            .map_err(|_| Error::PoolIdNotFound(id))
    }

    async fn pools_here(&self) -> Vec<PoolInfo> {
        let mut addrs: Vec<(compact_str::CompactString, Addr<WorkPool>)> = self
            .core
            .directory
            .pools
            .iter()
            .map(|e| (e.key().clone(), e.addr.clone()))
            .collect();
        addrs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(addrs.len());
        for (_, addr) in addrs {
            // A pool deleted meanwhile is simply not listed.
            if let Ok(info) = addr.send(GetPool).await {
                out.push(info);
            }
        }
        out
    }

    async fn find_pools_here(
        &self,
        within: Option<&[&str]>,
        keep: impl Fn(&PoolKey<'_>) -> bool,
        offset: usize,
        limit: usize,
    ) -> Vec<PoolInfo> {
        let d = &self.core.directory;
        let key = |name: &compact_str::CompactString, e: &PoolEntry| {
            keep(&PoolKey {
                name,
                id: e.shared.id,
                pool_type: &e.shared.pool_type,
            })
        };
        let mut names: Vec<compact_str::CompactString> = match within {
            Some(names) => {
                let mut found: Vec<_> = names
                    .iter()
                    .filter_map(|n| d.pools.get(*n))
                    .filter(|e| key(e.key(), e.value()))
                    .map(|e| e.key().clone())
                    .collect();
                found.sort_unstable();
                found.dedup();
                found
            }
            None => {
                // The first `offset + limit` names in order, kept in a max-heap: a name
                // is copied only when it belongs among them so far.
                let wanted = offset.saturating_add(limit);
                let mut first = std::collections::BinaryHeap::with_capacity(wanted.min(4096));
                for e in d.pools.iter() {
                    let smaller = first.len() < wanted
                        || first
                            .peek()
                            .is_some_and(|max: &compact_str::CompactString| e.key() < max);
                    if smaller && key(e.key(), e.value()) {
                        first.push(e.key().clone());
                        if first.len() > wanted {
                            first.pop();
                        }
                    }
                }
                first.into_sorted_vec()
            }
        };
        names.truncate(offset.saturating_add(limit));
        let mut out = Vec::with_capacity(limit.min(names.len()));
        for name in names.into_iter().skip(offset).take(limit) {
            // A pool deleted meanwhile is simply not listed.
            if let Ok(info) = self.pool_here(&name).await {
                out.push(info);
            }
        }
        out
    }

    fn pool_name_here(&self, id: Uuid) -> Option<String> {
        self.core
            .directory
            .pool_names
            .get(&id)
            .map(|n| n.to_string())
    }

    fn pool_names_here(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .core
            .directory
            .pools
            .iter()
            .map(|e| e.key().to_string())
            .collect();
        names.sort();
        names
    }

    async fn update_pool_here(&self, name: &str, update: PoolUpdate) -> Result<PoolInfo, Error> {
        update.validate()?;
        let entry = self.pool_entry(name)?;
        self.core.gate.pass().await;
        entry
            .addr
            .send(UpdatePoolAndRead(update.into()))
            .await
            .map_err(gone(name))?
    }

    async fn delete_pool_here(&self, name: &str) -> Result<(), Error> {
        let entry = self.pool_entry(name)?;
        self.core.gate.pass().await;
        entry.addr.send(DeletePool).await.map_err(gone(name))?
    }

    async fn heartbeat_here<'a>(
        &self,
        pool: &str,
        beat: impl Into<Heartbeat<'a>>,
    ) -> Result<(), Error> {
        let beat = beat.into();
        let (worker, interval) = (beat.worker(), beat.interval());
        let addr = {
            let entry = self.pool_ref(pool)?;
            if entry.shared.refresh(worker, interval, self.core.now()) {
                return Ok(());
            }
            entry.addr.clone()
        };
        self.core.gate.pass().await;
        let worker = worker.to_owned();
        addr.send(WorkerHeartbeat { worker, interval })
            .await
            .map_err(gone(pool))?
    }

    fn heartbeat_nowait_here<'a>(
        &self,
        pool: &str,
        beat: impl Into<Heartbeat<'a>>,
    ) -> Result<(), Error> {
        let entry = self.pool_ref(pool)?;
        let beat = beat.into();
        if entry
            .shared
            .refresh(beat.worker(), beat.interval(), self.core.now())
        {
            return Ok(());
        }
        if !self.core.gate.is_open() {
            return Err(Error::Busy);
        }
        unawaited(
            &entry,
            Unawaited::Beat(WorkerHeartbeat {
                worker: beat.worker().to_owned(),
                interval: beat.interval(),
            }),
        );
        Ok(())
    }

    async fn workers_here(&self, pool: &str) -> Result<Vec<WorkerInfo>, Error> {
        self.pool_entry(pool)?
            .addr
            .send(ListWorkers)
            .await
            .map_err(gone(pool))
    }

    async fn delete_worker_here(&self, pool: &str, worker: &str) -> Result<(), Error> {
        let entry = self.pool_entry(pool)?;
        self.core.gate.pass().await;
        entry
            .addr
            .send(DeleteWorker(worker.to_owned()))
            .await
            .map_err(gone(pool))?
    }

    async fn create_queue_here(&self, pool: &str, req: CreateQueue) -> Result<QueueInfo, Error> {
        req.validate()?;
        let entry = self.pool_entry(pool)?;
        self.core.gate.pass().await;
        entry.addr.send(AddQueue(req)).await.map_err(gone(pool))?
    }

    async fn queue_here(&self, pool: &str, name: &str) -> Result<QueueInfo, Error> {
        let (_, _, addr) = self.queue_addr(pool, name)?;
        addr.send(GetQueue).await.map_err(|_| Error::QueueNotFound {
            pool: shown(pool),
            queue: shown(name),
        })
    }

    async fn queue_by_id_here(&self, id: Uuid) -> Result<QueueInfo, Error> {
        let (_, addr) = self.queue_by_id_entry(id)?;
        addr.send(GetQueue)
            .await
            .map_err(|_| Error::QueueIdNotFound(id))
    }

    async fn queues_here(&self, pool: &str) -> Result<Vec<QueueInfo>, Error> {
        let addrs = self
            .pool_entry(pool)?
            .addr
            .send(PoolQueues)
            .await
            .map_err(gone(pool))?;
        let mut out = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if let Ok(info) = addr.send(GetQueue).await {
                out.push(info);
            }
        }
        Ok(out)
    }

    async fn update_queue_here(
        &self,
        pool: &str,
        name: &str,
        update: QueueUpdate,
    ) -> Result<QueueInfo, Error> {
        update.validate()?;
        let (entry, id, _) = self.queue_addr(pool, name)?;
        self.core.gate.pass().await;
        entry
            .addr
            .send(UpdatePoolQueue { queue: id, update })
            .await
            .map_err(gone(pool))?
    }

    async fn update_queue_by_id_here(
        &self,
        id: Uuid,
        update: QueueUpdate,
    ) -> Result<QueueInfo, Error> {
        update.validate()?;
        let (pool, _) = self.queue_by_id_entry(id)?;
        self.core.gate.pass().await;
        pool.send(UpdatePoolQueue { queue: id, update })
            .await
            .map_err(|_| Error::QueueIdNotFound(id))?
    }

    async fn delete_queue_here(&self, pool: &str, name: &str) -> Result<(), Error> {
        let (entry, id, _) = self.queue_addr(pool, name)?;
        self.core.gate.pass().await;
        entry.addr.send(RemoveQueue(id)).await.map_err(gone(pool))?
    }

    async fn delete_queue_by_id_here(&self, id: Uuid) -> Result<(), Error> {
        let (pool, _) = self.queue_by_id_entry(id)?;
        self.core.gate.pass().await;
        pool.send(RemoveQueue(id))
            .await
            .map_err(|_| Error::QueueIdNotFound(id))?
    }

    async fn poll_here<I, S>(&self, pool: &str, names: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<S> = names.into_iter().collect();
        let now = self.core.now();
        let rest: Vec<Addr<WorkQueue>> = {
            let entry = self.pool_ref(pool)?;
            let queues = entry.shared.queues();
            let chosen: Vec<&QueueSlot> = if names.is_empty() {
                queues.iter().collect()
            } else {
                names
                    .iter()
                    .map(|n| {
                        let n = n.as_ref();
                        queues
                            .iter()
                            .find(|q| q.name == n)
                            .ok_or_else(|| Error::QueueNotFound {
                                pool: shown(pool),
                                queue: shown(n),
                            })
                    })
                    .collect::<Result<_, _>>()?
            };
            chosen
                .into_iter()
                .filter(|q| !q.polled.refresh(now))
                .map(|q| q.addr.clone())
                .collect()
        };
        if rest.is_empty() {
            return Ok(());
        }
        self.core.gate.pass().await;
        for addr in rest {
            // A queue deleted meanwhile has nothing to mark.
            if let Ok(written) = addr.send(Poll).await {
                written?;
            }
        }
        Ok(())
    }

    /// Marks every queue of a pool as polled.
    pub async fn poll_all(&self, pool: &str) -> Result<(), Error> {
        self.poll(pool, std::iter::empty::<&str>()).await
    }

    async fn poll_queue_here(&self, id: Uuid) -> Result<(), Error> {
        let done = self
            .core
            .directory
            .queues
            .get(&id)
            .is_some_and(|q| q.polled.refresh(self.core.now()));
        if done {
            return Ok(());
        }
        let (_, addr) = self.queue_by_id_entry(id)?;
        self.core.gate.pass().await;
        addr.send(Poll)
            .await
            .map_err(|_| Error::QueueIdNotFound(id))?
    }

    /// Adds a subscriber: any actor that handles [`Deliver`]. The answer is a guard:
    /// dropping it unsubscribes, [`Subscription::keep`] keeps it. The same recipient
    /// twice is refused with [`Error::AlreadySubscribed`].
    pub async fn subscribe(
        &self,
        recipient: Recipient<Deliver>,
        options: SubscribeOptions,
    ) -> Result<Subscription, Error> {
        let info = self
            .core
            .registry
            .send(Subscribe { recipient, options })
            .await??;
        Ok(Subscription::new(info, self.core.registry.clone()))
    }

    /// Removes a subscriber; answers whether it existed.
    pub async fn unsubscribe(&self, id: SubscriptionId) -> Result<bool, Error> {
        Ok(self.core.registry.send(Unsubscribe(id)).await?)
    }

    /// Publishes an event that is already shared (from another node, say) to the
    /// local subscribers. It waits at the gate like every operation, so a source
    /// (the NATS bridge, a client posting events) is held back while a lossless
    /// subscriber is full.
    ///
    /// With a store, an event of this node's clients (one without an origin) is
    /// written to it first, so that the history outlives the process; one from
    /// another node is that node's to keep. An event the store refused is
    /// published all the same (as a change whose commit failed is made in
    /// memory) and answered [`Error::Store`]: the caller was not told it is kept.
    pub async fn ingest(&self, event: workbus_events::SharedEvent) -> Result<(), Error> {
        self.core.gate.pass().await;
        // Held by the message until the registry has dispatched it: without it a
        // loop of ingests would queue events at the registry faster than the gate
        // can close, and past a lossless subscriber's hard bound they would be
        // dropped. The semaphore is never closed, so the error arm cannot happen.
        let Ok(place) = self.core.ingesting.clone().acquire_owned().await else {
            return Err(Error::Stopped);
        };
        let mut written = Ok(());
        if let (Some(store), None) = (&self.core.store, event.origin()) {
            let mut batch = workbus_store::Batch::new();
            batch.event(
                *event.id.as_bytes(),
                event.occurred.as_micros(),
                event.json().to_vec(),
            );
            if let Err(error) = store.commit(batch).await {
                tracing::error!(%error, "an event could not be written to the store");
                written = Err(Error::Store(error));
            }
        }
        self.core.registry.do_send(Ingest(event, place));
        written
    }

    fn update_pool_nowait_here(&self, name: &str, update: PoolUpdate) -> Result<(), Error> {
        update.validate()?;
        let entry = self.pool_ref(name)?;
        if !self.core.gate.is_open() {
            return Err(Error::Busy);
        }
        unawaited(&entry, Unawaited::Change(update.into()));
        Ok(())
    }

    /// Waits until operations may go on: at once, unless a lossless
    /// ([`Overflow::Block`](crate::Overflow::Block)) subscriber's buffer is
    /// full or the registry is behind (256 events or more waiting to go out).
    pub async fn ready(&self) {
        self.core.gate.pass().await;
    }

    /// Waits until every event emitted by operations that have returned is in
    /// its subscribers' mailboxes; with a store, also writes the beats and
    /// syncs, so that nothing a shutdown leaves is lost.
    pub async fn flush(&self) -> Result<(), Error> {
        self.core.registry.send(Flush).await?;
        if let Some(store) = self.core.store.clone() {
            let beats = crate::restore::beats(&self.core);
            crate::restore::commit_all(&*store, beats, false)
                .await
                .map_err(Error::Store)?;
        }
        Ok(())
    }
}

/// The operations, served here or routed to the node that owns the pool.
impl Bus {
    /// The router, when this bus is in a fleet and does not hold `pool` (or
    /// may not serve what it holds now).
    fn elsewhere(&self, pool: &str) -> Option<&Arc<dyn Router>> {
        let r = self.core.router.as_ref()?;
        (!r.serves_held() || !self.core.directory.pools.contains_key(pool)).then_some(r)
    }

    /// The router and the pool's name, for a pool id this bus does not hold.
    fn elsewhere_id(&self, id: Uuid) -> Option<(&Arc<dyn Router>, String)> {
        let r = self.core.router.as_ref()?;
        if r.serves_held() && self.core.directory.pool_names.contains_key(&id) {
            return None;
        }
        r.pool_of(id).filter(|p| p.id == id).map(|p| (r, p.name))
    }

    /// The router and the pool's name, for a queue this bus does not hold.
    fn elsewhere_queue(&self, id: Uuid) -> Option<(&Arc<dyn Router>, String)> {
        let r = self.core.router.as_ref()?;
        if r.serves_held() && self.core.directory.queues.contains_key(&id) {
            return None;
        }
        r.pool_of(id).map(|p| (r, p.name))
    }

    async fn send(&self, r: &Arc<dyn Router>, pool: String, op: Op) -> Result<Answer, Error> {
        r.route(self, Call { pool, op }).await
    }

    /// The router, in a fleet; with it, the name of the pool of queue `id`
    /// from this bus's tables or else from the fleet's view (`None`: no such
    /// queue known, answered here).
    fn fleet_queue(&self, id: Uuid) -> Option<(&Arc<dyn Router>, String)> {
        let r = self.core.router.as_ref()?;
        let dir = &self.core.directory;
        let held = dir
            .queues
            .get(&id)
            .and_then(|q| dir.pool_names.get(&q.pool_id).map(|n| n.to_string()));
        held.or_else(|| r.pool_of(id).map(|p| p.name))
            .map(|name| (r, name))
    }

    /// A change in a fleet: served here while this node holds the pool,
    /// routed to its owner otherwise. One served here that finds the pool
    /// handed over while it waited (its write fenced: the change and its
    /// events were dropped here, the pool let go) goes to the new owner, so
    /// a call made during a move is served once, not refused. Heartbeats and
    /// polls, done in place, do the same without building the call first
    /// ([`Bus::or_moved`]).
    async fn write(&self, r: &Arc<dyn Router>, pool: String, op: Op) -> Result<Answer, Error> {
        let call = Call { pool, op };
        if self.elsewhere(&call.pool).is_none() {
            let here = self.serve(call.clone()).await;
            if self.moved(&here).is_none() {
                return here;
            }
        }
        r.route(self, call).await
    }

    /// The router, when `answer` is a fleet's fenced write: the change was
    /// made nowhere and the pool let go, so the call goes to the new owner.
    fn moved<T>(&self, answer: &Result<T, Error>) -> Option<&Arc<dyn Router>> {
        match answer {
            Err(Error::Store(workbus_store::StoreError::Fenced { scope })) => {
                tracing::debug!(%scope, "the pool moved during a call: it goes to the new owner");
                self.core.router.as_ref()
            }
            _ => None,
        }
    }

    /// `here`, a change done here, unless its write was fenced in a fleet:
    /// then the call `to` builds (only now, off the in-place path) goes to the
    /// pool's new holder. `None` from `to`: no holder known, `here` stands.
    async fn or_moved(
        &self,
        here: Result<(), Error>,
        to: impl FnOnce(&dyn Router) -> Option<Call>,
    ) -> Result<(), Error> {
        match self.moved(&here).and_then(|r| Some((r, to(&**r)?))) {
            Some((r, call)) => r.route(self, call).await?.done(),
            None => here,
        }
    }

    /// Routes a call whose answer nobody waits for (a failure is logged). At
    /// most [`MAX_UNAWAITED`] are under way at once: one more is refused with
    /// [`Error::Busy`], as the gate refuses these calls.
    fn send_nowait(&self, r: &Arc<dyn Router>, pool: &str, op: Op) -> Result<(), Error> {
        let permit = self
            .core
            .unawaited
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy)?;
        let call = r.route(
            self,
            Call {
                pool: pool.to_owned(),
                op,
            },
        );
        self.core.arbiter.spawn(async move {
            if let Err(error) = call.await {
                tracing::debug!(%error, "a call sent without waiting failed");
            }
            drop(permit);
        });
        Ok(())
    }

    /// Runs a call here, never routing it: what a node does with a call
    /// routed to it (see [`Router`]). The pool's own checks apply, as for
    /// the method of the same name.
    pub async fn serve(&self, call: Call) -> Result<Answer, Error> {
        let pool = call.pool.as_str();
        match call.op {
            Op::CreatePool(req) => self
                .create_pool_here(req)
                .await
                .map(|p| Answer::Pool(Box::new(p))),
            Op::Pool => self
                .pool_here(pool)
                .await
                .map(|p| Answer::Pool(Box::new(p))),
            Op::UpdatePool(u) => self
                .update_pool_here(pool, u)
                .await
                .map(|p| Answer::Pool(Box::new(p))),
            Op::DeletePool => self.delete_pool_here(pool).await.map(|()| Answer::Done),
            Op::Heartbeat { worker, interval } => self
                .heartbeat_here(pool, Heartbeat::new(worker).interval_opt(interval))
                .await
                .map(|()| Answer::Done),
            Op::Workers => self.workers_here(pool).await.map(Answer::Workers),
            Op::DeleteWorker(w) => self
                .delete_worker_here(pool, &w)
                .await
                .map(|()| Answer::Done),
            Op::CreateQueue(req) => self.create_queue_here(pool, req).await.map(Answer::Queue),
            Op::Queue(q) => self.queue_here(pool, &q).await.map(Answer::Queue),
            Op::QueueById(id) => self.queue_by_id_here(id).await.map(Answer::Queue),
            Op::Queues => self.queues_here(pool).await.map(Answer::Queues),
            Op::UpdateQueue { queue, update } => self
                .update_queue_here(pool, &queue, update)
                .await
                .map(Answer::Queue),
            Op::UpdateQueueById { id, update } => self
                .update_queue_by_id_here(id, update)
                .await
                .map(Answer::Queue),
            Op::DeleteQueue(q) => self
                .delete_queue_here(pool, &q)
                .await
                .map(|()| Answer::Done),
            Op::DeleteQueueById(id) => self
                .delete_queue_by_id_here(id)
                .await
                .map(|()| Answer::Done),
            Op::Poll(names) => self.poll_here(pool, names).await.map(|()| Answer::Done),
            Op::PollQueue(id) => self.poll_queue_here(id).await.map(|()| Answer::Done),
        }
    }

    /// Takes over pools from what a store held of them (in a fleet: the pools
    /// this node now owns), as a restart does (see [`BusBuilder::open`]):
    /// their actors start, their deadlines are re-armed. A pool this bus
    /// holds already is left as it is. `alive` is the last time the node
    /// that held them was known to run (a deadline that passed before it
    /// fires at once; one that passed after gets a full window from now).
    pub fn adopt(
        &self,
        contents: workbus_store::Contents,
        alive: workbus_events::Timestamp,
    ) -> Result<(), Error> {
        crate::restore::restore(&self.core, contents, Some(alive))
    }

    /// Lets a pool go without a word: its workers' and queues' last times are
    /// written (with a store), then its actors stop after what they are
    /// doing, emitting nothing. For a fleet, when another node owns the pool
    /// now. Answers whether this bus held it; a failed write of the times is
    /// answered as the error (the pool is let go all the same).
    pub async fn release(&self, name: &str) -> Result<bool, Error> {
        if let (Some(store), Some(batch)) = (
            self.core.store.clone(),
            crate::restore::pool_beats(&self.core, name),
        ) {
            if !batch.is_empty() {
                if let Err(error) = store.commit(batch).await {
                    // Let go all the same: the pool is not this node's to keep.
                    self.core.release(name);
                    tracing::warn!(pool = %name, %error, "a released pool's last times were not written");
                    return Err(Error::Store(error));
                }
            }
        }
        Ok(self.core.release(name))
    }

    /// Whether this bus holds the pool named `name` (in a fleet: it owns it now).
    pub fn holds(&self, name: &str) -> bool {
        self.core.directory.pools.contains_key(name)
    }

    /// Creates a work pool and its default queue. Emits, in order: the default
    /// queue's `created`, the pool's `created`, the pool's `not-ready` (or `paused`).
    pub async fn create_pool(&self, req: CreatePool) -> Result<PoolInfo, Error> {
        match &self.core.router {
            Some(r) => {
                req.validate()?;
                let pool = req.name.clone();
                self.send(r, pool, Op::CreatePool(req)).await?.pool()
            }
            None => self.create_pool_here(req).await,
        }
    }

    /// Reads a work pool.
    pub async fn pool(&self, name: &str) -> Result<PoolInfo, Error> {
        match self.elsewhere(name) {
            Some(r) => self.send(r, name.to_owned(), Op::Pool).await?.pool(),
            None => self.pool_here(name).await,
        }
    }

    /// A work pool's id, from the tables (no actor is asked).
    pub fn pool_id(&self, name: &str) -> Option<Uuid> {
        match self.elsewhere(name) {
            Some(r) => r.pool_named(name).map(|p| p.id),
            None => self.pool_id_here(name),
        }
    }

    /// Reads a work pool by id.
    pub async fn pool_by_id(&self, id: Uuid) -> Result<PoolInfo, Error> {
        match self.elsewhere_id(id) {
            Some((r, name)) => self
                .send(r, name, Op::Pool)
                .await
                .and_then(Answer::pool)
                .map_err(|e| match e {
                    Error::PoolNotFound(_) => Error::PoolIdNotFound(id),
                    other => other,
                }),
            None => self.pool_by_id_here(id).await,
        }
    }

    /// Every work pool, by name (in a fleet, every pool of the fleet).
    pub async fn pools(&self) -> Vec<PoolInfo> {
        let Some(r) = &self.core.router else {
            return self.pools_here().await;
        };
        let mut names: Vec<String> = r.fleet().into_iter().map(|p| p.name).collect();
        names.sort_unstable();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // A pool deleted meanwhile is simply not listed.
            if let Ok(info) = self.pool(&name).await {
                out.push(info);
            }
        }
        out
    }

    /// A page of the work pools that `keep` accepts, by name, asking only the
    /// actors of the pools on the page.
    ///
    /// `keep` sees what the tables know of each pool without asking it (its
    /// name, id and type). With `within`, only the pools of those names are
    /// looked at, each found in the tables directly: a filter by exact name or
    /// id costs what it names, not what the bus holds. In a fleet, the
    /// router's view of the fleet's pools ([`Router::fleet`]) stands in for
    /// the tables, and each pool on the page is read where it lives.
    pub async fn find_pools(
        &self,
        within: Option<&[&str]>,
        keep: impl Fn(&PoolKey<'_>) -> bool,
        offset: usize,
        limit: usize,
    ) -> Vec<PoolInfo> {
        let Some(r) = &self.core.router else {
            return self.find_pools_here(within, keep, offset, limit).await;
        };
        let mut names: Vec<String> = r
            .fleet()
            .into_iter()
            .filter(|p| within.is_none_or(|w| w.contains(&p.name.as_str())))
            .filter(|p| {
                keep(&PoolKey {
                    name: &p.name,
                    id: p.id,
                    pool_type: &p.pool_type,
                })
            })
            .map(|p| p.name)
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut out = Vec::with_capacity(limit.min(names.len()));
        for name in names.into_iter().skip(offset).take(limit) {
            if let Ok(info) = self.pool(&name).await {
                out.push(info);
            }
        }
        out
    }

    /// The name of the pool with this id, from the tables.
    pub fn pool_name(&self, id: Uuid) -> Option<String> {
        match self.elsewhere_id(id) {
            Some((_, name)) => Some(name),
            None => self.pool_name_here(id),
        }
    }

    /// The names of the work pools, without asking any actor.
    pub fn pool_names(&self) -> Vec<String> {
        let Some(r) = &self.core.router else {
            return self.pool_names_here();
        };
        let mut names: Vec<String> = r.fleet().into_iter().map(|p| p.name).collect();
        names.sort_unstable();
        names
    }

    /// Updates, pauses or resumes a work pool; answers the pool as it is right after.
    pub async fn update_pool(&self, name: &str, update: PoolUpdate) -> Result<PoolInfo, Error> {
        match &self.core.router {
            Some(r) => {
                update.validate()?;
                self.write(r, name.to_owned(), Op::UpdatePool(update))
                    .await?
                    .pool()
            }
            None => self.update_pool_here(name, update).await,
        }
    }

    /// Updates, pauses or resumes a work pool without waiting for it: the update is
    /// checked and left in the pool's inbox, which the pool empties in order,
    /// emitting the events as it goes. A burst of such calls costs the pool one
    /// message and, with a store, one commit; a call made after this one, awaited
    /// or not, finds it applied. For high-rate producers; refused with
    /// [`Error::Busy`] while a lossless subscriber is full or the registry is
    /// behind (wait with [`Bus::ready`], then try again). In a fleet, as
    /// [`heartbeat_nowait`](Bus::heartbeat_nowait) for a pool held elsewhere.
    pub fn update_pool_nowait(&self, name: &str, update: PoolUpdate) -> Result<(), Error> {
        match self.elsewhere(name) {
            Some(r) => {
                update.validate()?;
                self.send_nowait(r, name, Op::UpdatePool(update))
            }
            None => self.update_pool_nowait_here(name, update),
        }
    }

    /// Deletes a work pool: every queue's `deleted`, then the pool's.
    pub async fn delete_pool(&self, name: &str) -> Result<(), Error> {
        match &self.core.router {
            Some(r) => self.write(r, name.to_owned(), Op::DeletePool).await?.done(),
            None => self.delete_pool_here(name).await,
        }
    }

    /// A worker's heartbeat: a worker name alone, or a [`Heartbeat`] with
    /// the interval the worker gives. A `NOT_READY` pool becomes `READY`.
    ///
    /// A heartbeat from a worker the pool counts online, with no new
    /// interval, changes only its last-heartbeat time: that is done in place
    /// (the pool keeps its workers' times where this handle can move them)
    /// and answered at once; every other one is handled by the pool's actor
    /// before this returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use workbus_core::{Bus, CreatePool, Heartbeat, HeartbeatInterval};
    ///
    /// actix::System::new().block_on(async {
    ///     let bus = Bus::start();
    ///     bus.create_pool(CreatePool::new("etl", "process")).await.unwrap();
    ///     bus.heartbeat("etl", "worker-1").await.unwrap();
    ///     let every = HeartbeatInterval::from_secs(10).unwrap();
    ///     bus.heartbeat("etl", Heartbeat::new("worker-2").every(every)).await.unwrap();
    ///     assert_eq!(bus.workers("etl").await.unwrap().len(), 2);
    /// });
    /// ```
    pub async fn heartbeat<'a>(
        &self,
        pool: &str,
        beat: impl Into<Heartbeat<'a>>,
    ) -> Result<(), Error> {
        match self.elsewhere(pool) {
            Some(r) => {
                let op = Op::heartbeat(&beat.into());
                self.send(r, pool.to_owned(), op).await?.done()
            }
            None => {
                let beat = beat.into();
                let borrowed = Heartbeat::new(beat.worker()).interval_opt(beat.interval());
                let here = self.heartbeat_here(pool, borrowed).await;
                self.or_moved(here, |_| {
                    Some(Call {
                        pool: pool.to_owned(),
                        op: Op::heartbeat(&beat),
                    })
                })
                .await
            }
        }
    }

    /// A heartbeat that does not wait for the pool to handle it: the pool is
    /// looked up, the heartbeat left in its inbox (in order with
    /// [`update_pool_nowait`](Bus::update_pool_nowait)'s), and errors in the
    /// heartbeat itself (an empty worker name) are not reported. For high-rate
    /// callers.
    ///
    /// It passes the same gate as every operation: while a lossless
    /// subscriber is full or the registry is behind, one that would need the
    /// pool's actor is refused
    /// with [`Error::Busy`] (wait with [`Bus::ready`], then try again). In a
    /// fleet, one for a pool held elsewhere is sent to its owner without
    /// waiting, and refused with [`Error::Busy`] while [`MAX_UNAWAITED`] are
    /// under way.
    pub fn heartbeat_nowait<'a>(
        &self,
        pool: &str,
        beat: impl Into<Heartbeat<'a>>,
    ) -> Result<(), Error> {
        match self.elsewhere(pool) {
            Some(r) => {
                let op = Op::heartbeat(&beat.into());
                self.send_nowait(r, pool, op)
            }
            None => self.heartbeat_nowait_here(pool, beat),
        }
    }

    /// The workers of a pool, most recent heartbeat first.
    pub async fn workers(&self, pool: &str) -> Result<Vec<WorkerInfo>, Error> {
        match self.elsewhere(pool) {
            Some(r) => self.send(r, pool.to_owned(), Op::Workers).await?.workers(),
            None => self.workers_here(pool).await,
        }
    }

    /// Forgets a worker. If it was the last online one, a `READY` pool goes `NOT_READY`.
    pub async fn delete_worker(&self, pool: &str, worker: &str) -> Result<(), Error> {
        match &self.core.router {
            Some(r) => self
                .write(r, pool.to_owned(), Op::DeleteWorker(worker.to_owned()))
                .await?
                .done(),
            None => self.delete_worker_here(pool, worker).await,
        }
    }

    /// Creates a work queue in a pool; emits its `created`.
    pub async fn create_queue(&self, pool: &str, req: CreateQueue) -> Result<QueueInfo, Error> {
        match &self.core.router {
            Some(r) => {
                req.validate()?;
                self.write(r, pool.to_owned(), Op::CreateQueue(req))
                    .await?
                    .queue()
            }
            None => self.create_queue_here(pool, req).await,
        }
    }

    /// Reads a work queue by pool and name.
    pub async fn queue(&self, pool: &str, name: &str) -> Result<QueueInfo, Error> {
        match self.elsewhere(pool) {
            Some(r) => self
                .send(r, pool.to_owned(), Op::Queue(name.to_owned()))
                .await?
                .queue(),
            None => self.queue_here(pool, name).await,
        }
    }

    /// Reads a work queue by id.
    pub async fn queue_by_id(&self, id: Uuid) -> Result<QueueInfo, Error> {
        match self.elsewhere_queue(id) {
            Some((r, pool)) => self.send(r, pool, Op::QueueById(id)).await?.queue(),
            None => self.queue_by_id_here(id).await,
        }
    }

    /// The queues of a pool, in creation order.
    pub async fn queues(&self, pool: &str) -> Result<Vec<QueueInfo>, Error> {
        match self.elsewhere(pool) {
            Some(r) => self.send(r, pool.to_owned(), Op::Queues).await?.queues(),
            None => self.queues_here(pool).await,
        }
    }

    /// Updates, renames, pauses or resumes a work queue.
    pub async fn update_queue(
        &self,
        pool: &str,
        name: &str,
        update: QueueUpdate,
    ) -> Result<QueueInfo, Error> {
        match &self.core.router {
            Some(r) => {
                update.validate()?;
                let op = Op::UpdateQueue {
                    queue: name.to_owned(),
                    update,
                };
                self.write(r, pool.to_owned(), op).await?.queue()
            }
            None => self.update_queue_here(pool, name, update).await,
        }
    }

    /// Updates a work queue by id (Prefect's legacy `/work_queues/{id}`).
    pub async fn update_queue_by_id(
        &self,
        id: Uuid,
        update: QueueUpdate,
    ) -> Result<QueueInfo, Error> {
        match self.fleet_queue(id) {
            Some((r, pool)) => {
                update.validate()?;
                self.write(r, pool, Op::UpdateQueueById { id, update })
                    .await?
                    .queue()
            }
            None => self.update_queue_by_id_here(id, update).await,
        }
    }

    /// Deletes a work queue (not a pool's default queue); emits its `deleted`.
    pub async fn delete_queue(&self, pool: &str, name: &str) -> Result<(), Error> {
        match &self.core.router {
            Some(r) => self
                .write(r, pool.to_owned(), Op::DeleteQueue(name.to_owned()))
                .await?
                .done(),
            None => self.delete_queue_here(pool, name).await,
        }
    }

    /// Deletes a work queue by id.
    pub async fn delete_queue_by_id(&self, id: Uuid) -> Result<(), Error> {
        match self.fleet_queue(id) {
            Some((r, pool)) => self.write(r, pool, Op::DeleteQueueById(id)).await?.done(),
            None => self.delete_queue_by_id_here(id).await,
        }
    }

    /// Marks queues of a pool as polled: the named ones (`&["gpu"]`, a
    /// `Vec<String>`, any iterator of names), or all of them when there are
    /// none, as Prefect's `get_scheduled_flow_runs` does. An unknown name fails
    /// before any queue is marked.
    ///
    /// Polls of `READY` and `PAUSED` queues change only `last_polled` and are
    /// done in place (the queue keeps its last poll where the handle can move
    /// it); the others are handled by their queue actors before this returns.
    pub async fn poll<I, S>(&self, pool: &str, names: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match self.elsewhere(pool) {
            Some(r) => {
                let names = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
                self.send(r, pool.to_owned(), Op::Poll(names)).await?.done()
            }
            None if self.core.router.is_none() => self.poll_here(pool, names).await,
            None => {
                let names: Vec<S> = names.into_iter().collect();
                let here = self.poll_here(pool, names.iter()).await;
                self.or_moved(here, |_| {
                    let names = names.iter().map(|n| n.as_ref().to_owned()).collect();
                    Some(Call {
                        pool: pool.to_owned(),
                        op: Op::Poll(names),
                    })
                })
                .await
            }
        }
    }

    /// Marks one queue, by id, as polled.
    pub async fn poll_queue(&self, id: Uuid) -> Result<(), Error> {
        match self.elsewhere_queue(id) {
            Some((r, pool)) => self.send(r, pool, Op::PollQueue(id)).await?.done(),
            None => {
                let here = self.poll_queue_here(id).await;
                self.or_moved(here, |r| {
                    Some(Call {
                        pool: r.pool_of(id)?.name,
                        op: Op::PollQueue(id),
                    })
                })
                .await
            }
        }
    }
}
