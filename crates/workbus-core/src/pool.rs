//! The work-pool actor: a pool's fields, its workers' heartbeats, its status, and its queues.
//!
//! ## Status
//!
//! | from | trigger | to | event |
//! |---|---|---|---|
//! | — | created | `NOT_READY` (`PAUSED` if created paused) | queue `created` (default), pool `created`, pool status |
//! | `NOT_READY` | a heartbeat | `READY` | `ready` |
//! | `READY` | the last online worker goes offline or is deleted | `NOT_READY` | `not-ready` |
//! | not `PAUSED` | pause | `PAUSED` | `paused` |
//! | `PAUSED` | resume | `READY` if a worker is online, else `NOT_READY` | `ready` / `not-ready` |
//!
//! Pausing a paused pool and resuming a running one emit nothing: status
//! events mark transitions. `prefect-agent` pools keep Prefect's rule that
//! pausing never changes their status.
//!
//! ## Offline detection
//!
//! A worker is offline once `heartbeat interval × inactivity multiple` has
//! passed since its last heartbeat. The pool keeps one timer, for the
//! earliest deadline of its online workers, and acts when it fires: at the
//! deadline itself, not in a periodic sweep.
//!
//! ## Heartbeats that change nothing
//!
//! The worker table is shared with the bus handle. A heartbeat from a
//! worker the pool counts online, with the interval it already knows, only
//! moves that worker's last-heartbeat time, and the handle does that in
//! place, without a message: the time and the online flag are one atomic
//! word that only the pool clears, by compare-and-swap (the protocol is in
//! docs/architecture.md). New workers, workers coming back, new intervals
//! and every status change go through the pool's mailbox as [`Heartbeat`]s.
//!
//! ## Calls that do not wait
//!
//! `update_pool_nowait`, and `heartbeat_nowait` from a worker the pool does not
//! count online, are answered before the pool has seen them. They do not go
//! through the mailbox, one message each: the bus leaves them in the pool's
//! inbox, a [`Handoff`], and only the call that finds the inbox empty sends the
//! pool `TakeUnawaited`, which applies every call waiting, in order, and with a
//! store commits them in one batch. A burst of such calls on one pool costs it
//! one message and one commit: at one subscriber, fan-out driven by
//! `update_pool_nowait` went from 1.28 to 1.45 times actix-broker's rate, and
//! from 2,535 to 2,238 instructions an event (`docs/performance.md`, section 1).
//!
//! The inbox keeps the order of the calls among themselves and against the
//! mailbox: a call is taken before any message sent after it (see [`Handoff`]),
//! so a caller's `update_pool_nowait` then `pool()` reads the change.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use actix::prelude::*;
use compact_str::CompactString;
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use uuid::Uuid;
use workbus_events::prefect::{self, Changes, PoolLabels, QueueLabels, Status};
use workbus_events::{Event, Timestamp};
use workbus_store::{Batch, Table};

use crate::beat::{Beat, Expiry};
use crate::core::Core;
use crate::directory::{Hasher, QueueEntry};
use crate::handoff::Handoff;
use crate::journal::{self, Durable};
use crate::model::{
    CreatePool, CreateQueue, HeartbeatInterval, PoolInfo, PoolUpdate, QueueInfo, QueueUpdate,
    StorageConfiguration, WorkerInfo, WorkerStatus, AGENT_POOL_TYPE,
};
use crate::queue::{DeleteQueue, NewQueue, UpdateQueue, WorkQueue};
use crate::record::{self, PoolRecord, WorkerRecord};
use crate::registry::Link;
use crate::Error;

/// The mailbox capacity of pool and queue actors.
pub const MAILBOX: usize = 1024;

/// A worker's row: its last heartbeat and online flag are one [`Beat`].
struct Worker {
    created: Timestamp,
    interval: Option<HeartbeatInterval>,
    beat: Beat,
    /// A worker online when the bus was rebuilt from a store is online until
    /// at least then, whatever its last heartbeat: it gets a full window to
    /// show it is alive.
    grace: Option<Timestamp>,
}

impl Worker {
    fn record(&self, name: &str) -> WorkerRecord {
        WorkerRecord {
            name: name.to_owned(),
            created: self.created,
            interval: self.interval,
            last_heartbeat: self.beat.at(),
            online: self.beat.is_flagged(),
        }
    }
}

/// With a store, what a handler changed, written through at its end.
#[derive(Default)]
struct WriteThrough {
    /// What the handler emitted, committed with the change, then published.
    outbox: Vec<Event>,
    /// The change's other writes (a new queue's record, a deleted worker).
    pending: Batch,
    /// The pool's record changed without an event saying so.
    dirty: bool,
    /// Workers whose rows changed.
    dirty_workers: Vec<CompactString>,
    /// The pool was deleted (its records go).
    deleted: bool,
    /// New queues waiting for the commit of their `created`.
    births: Vec<oneshot::Sender<()>>,
}

/// What a pool rebuilt from a store finds in `started` (its queues are in its table already).
pub(crate) struct Restore {
    /// Its workers and their lazily written heartbeat times.
    pub(crate) workers: Vec<(WorkerRecord, Option<Timestamp>)>,
    /// When the bus was rebuilt, and the last time it was known to run before.
    pub(crate) now: Timestamp,
    pub(crate) alive: Timestamp,
}

pub(crate) struct QueueSlot {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    priority: i64,
    /// When the pool last moved it to keep priorities distinct (the queue's `updated` then).
    shifted: Option<Timestamp>,
    pub(crate) addr: Addr<WorkQueue>,
    pub(crate) polled: Arc<Beat>,
}

/// The part of a pool the bus handle reads without a message: its workers
/// (to refresh the ones already online) and its queues (to poll them).
/// Only the pool actor writes it.
pub(crate) struct PoolShared {
    /// The pool's id and type, fixed at creation: list filters read them from the tables.
    pub(crate) id: Uuid,
    pub(crate) pool_type: Arc<str>,
    /// Names up to 24 bytes are stored inline: a lookup compares them without
    /// another cache miss, which is most of a heartbeat's cost in a storm.
    workers: RwLock<HashMap<CompactString, Worker, Hasher>>,
    queues: RwLock<Vec<QueueSlot>>,
    /// The calls made on the pool without waiting, in order (see the module docs).
    pub(crate) inbox: Handoff<Unawaited>,
}

impl PoolShared {
    pub(crate) fn new(id: Uuid, pool_type: &str) -> Self {
        PoolShared {
            id,
            pool_type: pool_type.into(),
            workers: RwLock::default(),
            queues: RwLock::default(),
            inbox: Handoff::default(),
        }
    }

    fn workers(&self) -> RwLockReadGuard<'_, HashMap<CompactString, Worker, Hasher>> {
        // The table is never left half-written: a panic elsewhere cannot poison its meaning.
        self.workers.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn workers_mut(&self) -> RwLockWriteGuard<'_, HashMap<CompactString, Worker, Hasher>> {
        self.workers.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn queues(&self) -> RwLockReadGuard<'_, Vec<QueueSlot>> {
        self.queues.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn queues_mut(&self) -> RwLockWriteGuard<'_, Vec<QueueSlot>> {
        self.queues.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a queue rebuilt from a store (before its pool's actor starts).
    pub(crate) fn restore_queue(
        &self,
        id: Uuid,
        name: String,
        priority: i64,
        shifted: Option<Timestamp>,
        addr: Addr<WorkQueue>,
        polled: Arc<Beat>,
    ) {
        self.queues_mut().push(QueueSlot {
            id,
            name,
            priority,
            shifted,
            addr,
            polled,
        });
    }

    /// Every worker's last heartbeat, for the lazy writer of beats.
    pub(crate) fn worker_beats(&self, mut each: impl FnMut(&str, Timestamp)) {
        for (name, w) in self.workers().iter() {
            if let Some(at) = w.beat.at() {
                each(name, at);
            }
        }
    }

    /// A heartbeat that changes nothing but the time, done in place: `false`
    /// when the pool itself must handle it (unknown or offline worker, new
    /// interval, invalid input).
    pub(crate) fn refresh(
        &self,
        worker: &str,
        interval: Option<HeartbeatInterval>,
        now: Timestamp,
    ) -> bool {
        let workers = self.workers();
        let Some(w) = workers.get(worker) else {
            return false;
        };
        (interval.is_none() || interval == w.interval) && w.beat.refresh(now)
    }
}

/// A work pool, as an actor. Created by [`Bus::create_pool`](crate::Bus::create_pool).
pub struct WorkPool {
    core: Arc<Core>,
    shared: Arc<PoolShared>,
    labels: PoolLabels,
    name: Arc<str>,
    description: Option<String>,
    base_job_template: Map<String, Value>,
    concurrency_limit: Option<i64>,
    storage: StorageConfiguration,
    is_paused: bool,
    status: Status,
    created: Timestamp,
    updated: Timestamp,
    default_queue: Uuid,
    online: usize,
    last_status: Option<(Uuid, Timestamp)>,
    timer: Option<(Timestamp, SpawnHandle)>,
    /// What the handler under way changed, to be written through the store.
    wt: WriteThrough,
    /// Set when rebuilt from a store, taken by `started`.
    restore: Option<Restore>,
    /// The calls last taken from the inbox: empty between two takes, its
    /// capacity kept up to [`KEPT_CALLS`].
    unawaited: VecDeque<Unawaited>,
}

impl WorkPool {
    pub(crate) fn new(
        core: Arc<Core>,
        shared: Arc<PoolShared>,
        id: Uuid,
        name: Arc<str>,
        req: CreatePool,
    ) -> Self {
        let now = core.now();
        let labels = PoolLabels::new(id, &req.name, &req.pool_type);
        let is_agent = req.pool_type == AGENT_POOL_TYPE;
        let status = if req.is_paused && !is_agent {
            Status::Paused
        } else {
            Status::NotReady
        };
        WorkPool {
            core,
            shared,
            labels,
            name,
            description: req.description,
            base_job_template: req.base_job_template,
            concurrency_limit: req.concurrency_limit,
            storage: req.storage_configuration,
            is_paused: req.is_paused,
            status,
            created: now,
            updated: now,
            default_queue: Uuid::now_v7(),
            online: 0,
            last_status: None,
            timer: None,
            wt: WriteThrough::default(),
            restore: None,
            unawaited: VecDeque::new(),
        }
    }

    /// A pool rebuilt from its record; its queues and workers come in `restore`.
    pub(crate) fn restored(
        core: Arc<Core>,
        shared: Arc<PoolShared>,
        name: Arc<str>,
        rec: PoolRecord,
        restore: Restore,
    ) -> Self {
        WorkPool {
            labels: PoolLabels::new(rec.id, &rec.name, &rec.pool_type),
            core,
            shared,
            name,
            description: rec.description,
            base_job_template: rec.base_job_template,
            concurrency_limit: rec.concurrency_limit,
            storage: rec.storage_configuration,
            is_paused: rec.is_paused,
            status: rec.status,
            created: rec.created,
            updated: rec.updated,
            default_queue: rec.default_queue,
            online: 0,
            last_status: rec.last_status,
            timer: None,
            wt: WriteThrough::default(),
            restore: Some(restore),
            unawaited: VecDeque::new(),
        }
    }

    /// Its record, as a store keeps it.
    fn record(&self) -> PoolRecord {
        PoolRecord {
            id: self.labels.id(),
            name: self.name.to_string(),
            pool_type: self.shared.pool_type.to_string(),
            description: self.description.clone(),
            base_job_template: self.base_job_template.clone(),
            concurrency_limit: self.concurrency_limit,
            storage_configuration: self.storage.clone(),
            is_paused: self.is_paused,
            status: self.status,
            created: self.created,
            updated: self.updated,
            default_queue: self.default_queue,
            last_status: self.last_status,
            queues: self
                .shared
                .queues()
                .iter()
                .map(|q| (q.id, q.priority, q.shifted))
                .collect(),
        }
    }

    /// Emits an event: to the registry at once, or with a store to the outbox,
    /// published once the change is committed.
    fn emit(&mut self, event: Event) {
        if self.core.store.is_some() {
            self.wt.outbox.push(event);
        } else {
            self.core.emit(event);
        }
    }

    /// The change a handler made, as a batch and its events (nothing without a store).
    fn take_change(&mut self) -> Option<(Batch, Vec<Event>)> {
        self.core.store.as_ref()?;
        if !self.wt.dirty
            && self.wt.outbox.is_empty()
            && self.wt.dirty_workers.is_empty()
            && self.wt.pending.is_empty()
        {
            return None;
        }
        let mut batch = std::mem::take(&mut self.wt.pending).scoped(self.name.as_bytes());
        let id = self.labels.id();
        if self.wt.deleted {
            batch.delete(Table::Pools, record::id_key(id));
            batch.delete_prefix(Table::Workers, record::id_key(id));
            batch.delete_prefix(Table::Beats, record::id_key(id));
            self.wt.dirty_workers.clear();
        } else {
            record::put(&mut batch, Table::Pools, record::id_key(id), &self.record());
            let workers = self.shared.workers();
            for name in self.wt.dirty_workers.drain(..) {
                let key = record::worker_key(id, &name);
                match workers.get(name.as_str()) {
                    Some(w) => record::put(&mut batch, Table::Workers, key, &w.record(&name)),
                    None => {
                        batch.delete(Table::Workers, key.clone());
                        batch.delete(Table::Beats, key);
                    }
                }
            }
        }
        self.wt.dirty = false;
        Some((batch, std::mem::take(&mut self.wt.outbox)))
    }

    /// A future that commits what the handler changed, then answers `answer`
    /// (or the store's failure); ready at once when nothing is to be committed.
    fn commit_then<T: 'static>(
        &mut self,
        answer: Result<T, Error>,
    ) -> ResponseActFuture<Self, Result<T, Error>> {
        let (Some(store), Some((batch, events))) = (self.core.store.clone(), self.take_change())
        else {
            return Box::pin(actix::fut::ready(answer));
        };
        let births = std::mem::take(&mut self.wt.births);
        let commit = journal::commit(self.core.clone(), store, batch, events);
        Box::pin(commit.into_actor(self).map(move |r, _, _| {
            // The new queues may handle messages now: their `created` is durable.
            for b in births {
                let _ = b.send(());
            }
            r.and(answer)
        }))
    }

    /// Answers `answer` once what the handler changed is durable.
    fn durable<T: 'static>(&mut self, answer: Result<T, Error>) -> Durable<Self, Result<T, Error>> {
        if self.core.store.is_none() {
            return Durable::Now(answer);
        }
        Durable::After(self.commit_then(answer))
    }

    /// Commits what a timer or `started` changed; the pool handles nothing else meanwhile.
    fn persist(&mut self, ctx: &mut Context<Self>) {
        if self.core.store.is_some() {
            let commit = self.commit_then(Ok(()));
            ctx.wait(commit.map(|_, _, _| ()));
        }
    }

    fn is_agent(&self) -> bool {
        &*self.shared.pool_type == AGENT_POOL_TYPE
    }

    fn info(&self) -> PoolInfo {
        PoolInfo {
            id: self.labels.id(),
            created: self.created,
            updated: self.updated,
            name: self.name.to_string(),
            description: self.description.clone(),
            pool_type: self.shared.pool_type.to_string(),
            base_job_template: self.base_job_template.clone(),
            is_paused: self.is_paused,
            concurrency_limit: self.concurrency_limit,
            status: (!self.is_agent()).then_some(self.status),
            default_queue_id: self.default_queue,
            storage_configuration: self.storage.clone(),
        }
    }

    /// Emits the status event for the current status, following the previous one if recent.
    fn emit_status(&mut self, now: Timestamp) {
        let follows = self
            .last_status
            .filter(|(_, at)| now.since(*at) < self.core.config.follows_window)
            .map(|(id, _)| id);
        let id = prefect::event_id(now);
        self.emit(prefect::pool_status(
            &self.labels,
            self.status,
            now,
            id,
            follows,
        ));
        self.last_status = Some((id, now));
    }

    fn set_status(&mut self, status: Status, now: Timestamp) {
        if self.status != status {
            crate::stats::moved(&self.core.stats.pools, Some(self.status), Some(status));
            self.status = status;
            self.emit_status(now);
        }
    }

    /// Arms the timer for `deadline` unless one is armed for earlier.
    fn arm(&mut self, deadline: Timestamp, ctx: &mut Context<Self>) {
        if let Some((at, handle)) = self.timer {
            if at <= deadline {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = deadline.since(self.core.now());
        let handle = ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.check_workers(ctx);
        });
        self.timer = Some((deadline, handle));
    }

    /// How long a worker with this interval stays online after a heartbeat.
    fn lifetime(&self, interval: Option<HeartbeatInterval>) -> Duration {
        interval
            .map(HeartbeatInterval::as_duration)
            .unwrap_or(self.core.config.fallback_heartbeat_interval)
            * self.core.config.worker_inactivity_multiple
    }

    fn check_workers(&mut self, ctx: &mut Context<Self>) {
        let now = self.core.now();
        let mut next: Option<Timestamp> = None;
        let mut expired = 0;
        let journaled = self.core.store.is_some();
        for (name, w) in self.shared.workers().iter() {
            if let Some(grace) = w.grace.filter(|g| now < *g && w.beat.is_flagged()) {
                next = Some(next.map_or(grace, |n| n.min(grace)));
                continue;
            }
            match w.beat.expire(now, self.lifetime(w.interval)) {
                Expiry::Expired => {
                    expired += 1;
                    if journaled {
                        self.wt.dirty_workers.push(name.clone());
                    }
                }
                Expiry::Until(deadline) => next = Some(next.map_or(deadline, |n| n.min(deadline))),
                Expiry::Clear => {}
            }
        }
        if expired > 0 {
            self.online -= expired;
            self.core
                .stats
                .workers_online
                .fetch_sub(expired, Ordering::Relaxed);
        }
        if self.online == 0 && self.status == Status::Ready {
            self.set_status(Status::NotReady, now);
        }
        if let Some(deadline) = next {
            self.arm(deadline, ctx);
        }
        self.persist(ctx);
    }

    /// Whether a queue of the pool has this name. Takes the queues' read lock:
    /// never call it while holding that lock.
    fn has_queue_named(&self, name: &str) -> bool {
        self.shared.queues().iter().any(|q| q.name == name)
    }

    fn spawn_queue(
        &mut self,
        id: Uuid,
        req: CreateQueue,
        priority: i64,
    ) -> (Addr<WorkQueue>, Arc<Beat>) {
        let labels = QueueLabels::new(id, &req.name);
        self.core.registry.do_send(Link {
            queue: id,
            pool: self.labels.as_related(),
        });
        let now = self.core.now();
        // The pool emits `created` itself, so it is ordered before the pool's own events.
        self.emit(prefect::queue_created(
            &labels,
            self.labels.as_related(),
            now,
            prefect::event_id(now),
        ));
        let born = self.core.store.is_some().then(|| {
            let (tx, rx) = oneshot::channel();
            self.wt.births.push(tx);
            rx
        });
        let queue = WorkQueue::new(
            self.core.clone(),
            NewQueue {
                labels,
                pool_id: self.labels.id(),
                pool_name: self.name.clone(),
                pool_related: self.labels.as_related(),
                born,
            },
            req,
            priority,
            now,
        );
        if self.core.store.is_some() {
            // Its record is written with its `created`, in the pool's commit.
            let key = record::id_key(id);
            record::put(&mut self.wt.pending, Table::Queues, key, &queue.record());
        }
        let polled = queue.polled();
        (queue.start(), polled)
    }

    fn register_queue(
        &mut self,
        id: Uuid,
        name: String,
        priority: i64,
        (addr, polled): (Addr<WorkQueue>, Arc<Beat>),
    ) {
        let d = &self.core.directory;
        d.queues.insert(
            id,
            QueueEntry {
                pool_id: self.labels.id(),
                addr: addr.clone(),
                polled: polled.clone(),
            },
        );
        let mut queues = self.shared.queues_mut();
        // Most pools keep one or two queues: grow by one, not to Vec's minimum of four.
        queues.reserve_exact(1);
        queues.push(QueueSlot {
            id,
            name,
            priority,
            shifted: None,
            addr,
            polled,
        });
    }

    /// Keeps the pool's priorities distinct after `moved` took `target`, as
    /// Prefect does: the queues in the way move down by one, each with a
    /// `prefect.work-queue.updated` (`priority`) that Prefect does not emit.
    /// The pool emits them itself, in order, right after the change that
    /// caused them; each queue is told its new priority behind them.
    fn shift_priorities(&mut self, moved: Uuid, target: i64) {
        let now = self.core.now();
        let mut shifted = Vec::new();
        {
            let mut queues = self.shared.queues_mut();
            let order: Vec<(Uuid, i64)> = queues.iter().map(|q| (q.id, q.priority)).collect();
            for (id, from, to) in crate::priority::shifted(&order, moved, target) {
                if let Some(slot) = queues.iter_mut().find(|q| q.id == id) {
                    slot.priority = to;
                    slot.shifted = Some(now);
                    shifted.push((id, slot.name.clone(), slot.addr.clone(), from, to));
                }
            }
        }
        for (id, name, addr, from, to) in shifted {
            addr.do_send(crate::queue::SetPriority {
                priority: to,
                at: now,
            });
            let mut changes = Changes::default();
            changes.push("priority", Value::from(from), Value::from(to));
            self.emit(prefect::queue_updated(
                &QueueLabels::new(id, &name),
                self.labels.as_related(),
                changes,
                now,
                prefect::event_id(now),
            ));
        }
    }

    fn unregister_queue(&mut self, id: Uuid) {
        let mut queues = self.shared.queues_mut();
        if let Some(pos) = queues.iter().position(|q| q.id == id) {
            queues.remove(pos);
            self.core.directory.queues.remove(&id);
            self.wt.dirty = true;
        }
    }

    /// Rebuilds the pool's queues and workers from a store, then acts on every
    /// deadline that passed before the bus stopped.
    fn rebuild(&mut self, r: Restore, ctx: &mut Context<Self>) {
        let mut workers = self.shared.workers_mut();
        let mut online = 0;
        for (w, beat) in r.workers {
            let last = match (w.last_heartbeat, beat) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let lifetime = self.lifetime(w.interval);
            // Online at the stop, and not past its deadline then: online for a window more.
            let grace = (w.online && last.is_some_and(|l| l.add(lifetime) > r.alive))
                .then(|| r.now.add(lifetime));
            if w.online {
                online += 1;
            }
            workers.insert(
                CompactString::from(w.name),
                Worker {
                    created: w.created,
                    interval: w.interval,
                    beat: Beat::new(last, w.online),
                    grace,
                },
            );
        }
        drop(workers);
        self.online = online;
        self.core
            .stats
            .workers_online
            .fetch_add(online, Ordering::Relaxed);
        // Deadlines that passed before the stop fire now, with their events.
        self.check_workers(ctx);
    }
}

impl Actor for WorkPool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Chosen, not actix's default of 16: heartbeats arrive in bursts from many
        // workers, and a full mailbox makes every sender park and retry.
        ctx.set_mailbox_capacity(MAILBOX);
        crate::stats::moved(&self.core.stats.pools, None, Some(self.status));
        if let Some(restore) = self.restore.take() {
            return self.rebuild(restore, ctx);
        }
        // Prefect's order: the default queue's `created`, the pool's `created`, the pool's status.
        let default = CreateQueue {
            name: "default".to_owned(),
            description: Some(crate::queue::DEFAULT_QUEUE_DESCRIPTION.to_owned()),
            ..CreateQueue::default()
        };
        let id = self.default_queue;
        let queue = self.spawn_queue(id, default, 1);
        self.register_queue(id, "default".to_owned(), 1, queue);
        let now = self.core.now();
        self.emit(prefect::pool_created(
            &self.labels,
            self.default_queue,
            self.storage.default_result_storage_block_id,
            now,
            prefect::event_id(now),
        ));
        self.emit_status(now);
        // The creation is durable before the pool handles anything (the bus reads it next).
        self.persist(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        crate::stats::moved(&self.core.stats.pools, Some(self.status), None);
    }
}

/// A worker's heartbeat that the pool itself handles: the worker is online
/// until its interval times the inactivity multiple passes.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), Error>")]
pub(crate) struct WorkerHeartbeat {
    pub(crate) worker: String,
    /// `None`: the interval the worker gave before, or the bus's fallback.
    pub(crate) interval: Option<HeartbeatInterval>,
}

impl Handler<WorkerHeartbeat> for WorkPool {
    type Result = Durable<Self, Result<(), Error>>;

    fn handle(&mut self, hb: WorkerHeartbeat, ctx: &mut Context<Self>) -> Self::Result {
        match self.beat(hb, ctx) {
            Ok(()) => self.durable(Ok(())),
            // Refused before anything changed: nothing to commit.
            Err(e) => Durable::Now(Err(e)),
        }
    }
}

impl WorkPool {
    /// Takes a heartbeat in: the worker is online until its deadline, and a
    /// `NOT_READY` pool becomes `READY`.
    fn beat(&mut self, hb: WorkerHeartbeat, ctx: &mut Context<Self>) -> Result<(), Error> {
        crate::name::validate_worker_name(&hb.worker)?;
        let journaled = self.core.store.is_some();
        let now = self.core.now();
        let mut workers = self.shared.workers_mut();
        let (came_online, deadline) = match workers.get_mut(hb.worker.as_str()) {
            Some(w) => {
                if hb.interval.is_some() {
                    w.interval = hb.interval;
                }
                let was_online = w.beat.mark(now);
                // A refresh may have moved the time past `now` already.
                let last = w.beat.at().unwrap_or(now);
                (!was_online, last.add(self.lifetime(w.interval)))
            }
            None => {
                let max = self.core.config.max_workers_per_pool;
                if workers.len() >= max {
                    return Err(Error::LimitReached {
                        what: "workers in a work pool".into(),
                        max,
                    });
                }
                let deadline = now.add(self.lifetime(hb.interval));
                workers.insert(
                    CompactString::from(hb.worker.as_str()),
                    Worker {
                        created: now,
                        interval: hb.interval,
                        beat: Beat::new(Some(now), true),
                        grace: None,
                    },
                );
                (true, deadline)
            }
        };
        drop(workers);
        if journaled {
            self.wt.dirty_workers.push(CompactString::from(hb.worker));
        }
        if came_online {
            self.online += 1;
            self.core
                .stats
                .workers_online
                .fetch_add(1, Ordering::Relaxed);
        }
        if self.status == Status::NotReady {
            self.updated = now;
            self.set_status(Status::Ready, now);
        }
        self.arm(deadline, ctx);
        Ok(())
    }
}

/// Forgets a worker; if it was the last online one, a `READY` pool goes `NOT_READY` at once.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DeleteWorker(pub String);

impl Handler<DeleteWorker> for WorkPool {
    type Result = Durable<Self, Result<(), Error>>;

    fn handle(&mut self, DeleteWorker(name): DeleteWorker, _: &mut Context<Self>) -> Self::Result {
        let removed = self.shared.workers_mut().remove(name.as_str());
        if removed.is_some() && self.core.store.is_some() {
            self.wt
                .dirty_workers
                .push(CompactString::from(name.as_str()));
        }
        match removed {
            Some(w) => {
                // Only this actor clears or sets the flag, so it cannot change under us.
                if w.beat.is_flagged() {
                    self.online -= 1;
                    self.core
                        .stats
                        .workers_online
                        .fetch_sub(1, Ordering::Relaxed);
                }
                if self.online == 0 && self.status == Status::Ready {
                    self.set_status(Status::NotReady, self.core.now());
                }
                self.durable(Ok(()))
            }
            None => Durable::Now(Err(Error::WorkerNotFound {
                pool: self.name.to_string(),
                worker: crate::name::shown(&name),
            })),
        }
    }
}

/// Lists the pool's workers, most recent heartbeat first.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<WorkerInfo>")]
pub struct ListWorkers;

impl Handler<ListWorkers> for WorkPool {
    type Result = MessageResult<ListWorkers>;

    fn handle(&mut self, _: ListWorkers, _: &mut Context<Self>) -> Self::Result {
        let mut out: Vec<WorkerInfo> = self
            .shared
            .workers()
            .iter()
            .map(|(name, w)| WorkerInfo {
                created: w.created,
                name: name.to_string(),
                work_pool_id: self.labels.id(),
                last_heartbeat_time: w.beat.at().unwrap_or(w.created),
                heartbeat_interval: w.interval,
                status: if w.beat.is_flagged() {
                    WorkerStatus::Online
                } else {
                    WorkerStatus::Offline
                },
            })
            .collect();
        // Ties (one instant, as on paused time) by name: the table's order is a hash's.
        out.sort_by(|a, b| {
            b.last_heartbeat_time
                .cmp(&a.last_heartbeat_time)
                .then_with(|| a.name.cmp(&b.name))
        });
        MessageResult(out)
    }
}

/// Reads the pool.
#[derive(Debug, Clone, Message)]
#[rtype(result = "PoolInfo")]
pub struct GetPool;

impl Handler<GetPool> for WorkPool {
    type Result = MessageResult<GetPool>;

    fn handle(&mut self, _: GetPool, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.info())
    }
}

/// A [`PoolUpdate`] as it travels to the pool's actor: a pause or a resume,
/// the usual change, in a byte; anything else boxed. An actix envelope is
/// allocated per message, and a 288-byte update made that allocation and two
/// copies of it the largest cost of a pause on its way (callgrind,
/// `examples/fanout_instructions.rs`).
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Only `is_paused`.
    Paused(bool),
    /// Any other update.
    Fields(Box<PoolUpdate>),
}

impl From<PoolUpdate> for Change {
    fn from(u: PoolUpdate) -> Self {
        match u {
            PoolUpdate {
                description: None,
                is_paused: Some(paused),
                base_job_template: None,
                concurrency_limit: None,
                storage_configuration: None,
            } => Change::Paused(paused),
            u => Change::Fields(Box::new(u)),
        }
    }
}

/// Changes fields, pauses or resumes: one `updated` event for every field
/// that really changed, then the status event if the status changed; answered
/// with the pool as it is right after, in one round trip. (A change nobody
/// waits for goes through the inbox instead, as [`Unawaited::Change`].)
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<PoolInfo, Error>")]
pub struct UpdatePoolAndRead(pub(crate) Change);

impl Handler<UpdatePoolAndRead> for WorkPool {
    type Result = Durable<Self, Result<PoolInfo, Error>>;

    fn handle(
        &mut self,
        UpdatePoolAndRead(c): UpdatePoolAndRead,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let done = self.change(c).map(|()| self.info());
        self.durable(done)
    }
}

/// A call made on a pool without waiting for it, left in the pool's inbox
/// (see the module docs).
#[derive(Debug)]
pub(crate) enum Unawaited {
    /// `Bus::update_pool_nowait`.
    Change(Change),
    /// `Bus::heartbeat_nowait` from a worker the pool does not count online.
    Beat(WorkerHeartbeat),
}

/// The most calls a pool keeps room for between two bursts, in each of its two
/// buffers (the inbox and the one it takes into): a burst over many pools is a
/// few calls each, and a new buffer for each cost 184 instructions an event at one
/// subscriber (callgrind, `examples/fanout_instructions.rs`).
const KEPT_CALLS: usize = 8;

/// Tells the pool that its inbox has calls for it: sent by the push that found it empty.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct TakeUnawaited;

impl Handler<TakeUnawaited> for WorkPool {
    type Result = ();

    fn handle(&mut self, _: TakeUnawaited, ctx: &mut Context<Self>) {
        let mut calls = std::mem::take(&mut self.unawaited);
        self.shared.inbox.take(&mut calls);
        for call in calls.drain(..) {
            // Their callers were answered when the call was taken in; what the
            // pool refuses now (a worker past the limit) changes nothing.
            let refused = match call {
                Unawaited::Change(c) => self.change(c),
                Unawaited::Beat(hb) => self.beat(hb, ctx),
            };
            if let Err(e) = refused {
                tracing::debug!(pool = %self.name, error = %e, "a call made without waiting was refused");
            }
        }
        // A burst's room is kept for the next one only up to a few calls: this
        // buffer and the inbox's trade places at every take, and a fleet of pools
        // at rest should not each hold what its largest burst once took.
        if calls.capacity() <= KEPT_CALLS {
            self.unawaited = calls;
        }
        // With a store, one commit for the whole burst.
        self.persist(ctx);
    }
}

impl WorkPool {
    /// Applies a change as it came: a pause or resume straight to the status.
    fn change(&mut self, c: Change) -> Result<(), Error> {
        match c {
            Change::Paused(paused) => {
                self.set_paused(paused, self.core.now());
                Ok(())
            }
            Change::Fields(u) => self.update(*u),
        }
    }

    /// Applies an update: its events, then its status change.
    fn update(&mut self, u: PoolUpdate) -> Result<(), Error> {
        u.validate()?;
        let mut changes = Changes::default();
        // Prefect's field order: description, base_job_template, concurrency_limit, storage_configuration.
        if let Some(d) = u.description {
            changes.push_if_changed("description", json_of(&self.description), json_of(&d));
            self.description = d;
        }
        if let Some(t) = u.base_job_template {
            if t != self.base_job_template {
                let from = std::mem::replace(&mut self.base_job_template, t);
                changes.push(
                    "base_job_template",
                    Value::Object(from),
                    Value::Object(self.base_job_template.clone()),
                );
            }
        }
        if let Some(l) = u.concurrency_limit {
            changes.push_if_changed(
                "concurrency_limit",
                json_of(&self.concurrency_limit),
                json_of(&l),
            );
            self.concurrency_limit = l;
        }
        if let Some(s) = u.storage_configuration {
            if s != self.storage {
                let from = std::mem::replace(&mut self.storage, s);
                changes.push(
                    "storage_configuration",
                    json_of(&from),
                    json_of(&self.storage),
                );
            }
        }
        let now = self.core.now();
        if !changes.is_empty() {
            self.updated = now;
            self.emit(prefect::pool_updated(
                &self.labels,
                changes,
                now,
                prefect::event_id(now),
            ));
        }
        if let Some(paused) = u.is_paused {
            self.set_paused(paused, now);
        }
        Ok(())
    }

    /// Pauses or resumes, and moves the status with it.
    fn set_paused(&mut self, paused: bool, now: Timestamp) {
        if paused != self.is_paused {
            self.is_paused = paused;
            self.updated = now;
            self.wt.dirty = true;
        }
        if !self.is_agent() {
            let target = match (paused, self.online > 0) {
                (true, _) => Status::Paused,
                (false, _) if self.status != Status::Paused => self.status,
                (false, true) => Status::Ready,
                (false, false) => Status::NotReady,
            };
            self.set_status(target, now);
        }
    }
}

fn json_of<T: serde::Serialize>(v: &T) -> Value {
    // Serializing model values (strings, integers, maps) into a Value cannot fail.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Adds a queue to the pool and emits its `created`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<QueueInfo, Error>")]
pub struct AddQueue(pub CreateQueue);

impl Handler<AddQueue> for WorkPool {
    type Result = Durable<Self, Result<QueueInfo, Error>>;

    fn handle(&mut self, AddQueue(req): AddQueue, _: &mut Context<Self>) -> Self::Result {
        if let Err(e) = req.validate() {
            return Durable::Now(Err(e));
        }
        let max = self.core.config.max_queues_per_pool;
        if self.shared.queues().len() >= max {
            let e = Error::LimitReached {
                what: "work queues in a work pool".into(),
                max,
            };
            return Durable::Now(Err(e));
        }
        if self.has_queue_named(&req.name) {
            let e = Error::QueueExists {
                pool: self.name.to_string(),
                queue: req.name,
            };
            return Durable::Now(Err(e));
        }
        let asked = req.priority;
        let priority = asked.unwrap_or_else(|| {
            crate::priority::first_free(self.shared.queues().iter().map(|q| q.priority))
        });
        let id = Uuid::now_v7();
        let name = req.name.clone();
        let queue = self.spawn_queue(id, req, priority);
        let addr = queue.0.clone();
        self.register_queue(id, name, priority, queue);
        if asked.is_some() {
            self.shift_priorities(id, priority);
        }
        // Committed (with a store), then the queue is read: it answers once it may.
        Durable::After(Box::pin(self.commit_then(Ok(())).then(move |r, _, _| {
            actix::fut::wrap_future(addr.send(crate::queue::GetQueue)).map(move |q, _, _| {
                r?;
                q.map_err(|_| Error::QueueIdNotFound(id))
            })
        })))
    }
}

/// Updates one of the pool's queues; the pool checks that a new name is free.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<QueueInfo, Error>")]
pub struct UpdatePoolQueue {
    /// The queue's id.
    pub queue: Uuid,
    /// The change.
    pub update: QueueUpdate,
}

impl Handler<UpdatePoolQueue> for WorkPool {
    type Result = AtomicResponse<Self, Result<QueueInfo, Error>>;

    fn handle(&mut self, msg: UpdatePoolQueue, _: &mut Context<Self>) -> Self::Result {
        let check = (|| {
            msg.update.validate()?;
            let queues = self.shared.queues();
            let slot = queues
                .iter()
                .find(|q| q.id == msg.queue)
                .ok_or(Error::QueueIdNotFound(msg.queue))?;
            if let Some(new) = &msg.update.name {
                // The guard held above answers: std's RwLock may deadlock or panic on a
                // second read lock taken by the same thread.
                if *new != slot.name && queues.iter().any(|q| q.name == *new) {
                    return Err(Error::QueueExists {
                        pool: self.name.to_string(),
                        queue: new.clone(),
                    });
                }
            }
            Ok(slot.addr.clone())
        })();
        let addr = match check {
            Ok(a) => a,
            Err(e) => return AtomicResponse::new(Box::pin(actix::fut::ready(Err(e)))),
        };
        let id = msg.queue;
        let moved = msg.update.priority.is_some();
        AtomicResponse::new(Box::pin(
            actix::fut::wrap_future(addr.send(UpdateQueue(msg.update)))
                .map(move |r, act: &mut WorkPool, _| {
                    // Only the pool stops its queues: one that did is gone.
                    let info = r.map_err(|_| Error::QueueIdNotFound(id))??;
                    if let Some(slot) = act.shared.queues_mut().iter_mut().find(|q| q.id == id) {
                        if slot.name != info.name {
                            slot.name = info.name.clone();
                        }
                        slot.priority = info.priority;
                    }
                    if moved {
                        act.shift_priorities(id, info.priority);
                        act.wt.dirty = true;
                    }
                    Ok(info)
                })
                .then(|answer, act: &mut WorkPool, _| act.commit_then(answer)),
        ))
    }
}

/// Deletes one of the pool's queues (never the default one).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct RemoveQueue(pub Uuid);

impl Handler<RemoveQueue> for WorkPool {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, RemoveQueue(id): RemoveQueue, _: &mut Context<Self>) -> Self::Result {
        if id == self.default_queue {
            let e = Error::DefaultQueueDeletion(self.name.to_string());
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(e))));
        }
        let found = self
            .shared
            .queues()
            .iter()
            .find(|q| q.id == id)
            .map(|q| q.addr.clone());
        let Some(addr) = found else {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(Error::QueueIdNotFound(
                id,
            )))));
        };
        self.unregister_queue(id);
        AtomicResponse::new(Box::pin(
            actix::fut::wrap_future(addr.send(DeleteQueue))
                .map(move |r, _, _| r.map_err(|_| Error::QueueIdNotFound(id))?)
                .then(|answer, act: &mut WorkPool, _| act.commit_then(answer)),
        ))
    }
}

/// Deletes the pool: every queue's `deleted`, then the pool's; then the actors stop.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DeletePool;

impl Handler<DeletePool> for WorkPool {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, _: DeletePool, _: &mut Context<Self>) -> Self::Result {
        let queues: Vec<(Uuid, Addr<WorkQueue>)> = self
            .shared
            .queues()
            .iter()
            .map(|q| (q.id, q.addr.clone()))
            .collect();
        AtomicResponse::new(Box::pin(
            actix::fut::wrap_future(async move {
                let mut written = Ok(());
                for (_, addr) in &queues {
                    // A queue that already stopped has nothing left to announce.
                    if let Ok(Err(e)) = addr.send(DeleteQueue).await {
                        written = written.and(Err(e));
                    }
                }
                (queues, written)
            })
            .then(|(queues, written), act: &mut WorkPool, _| {
                for (id, _) in queues {
                    act.unregister_queue(id);
                }
                let now = act.core.now();
                act.emit(prefect::pool_deleted(
                    &act.labels,
                    act.default_queue,
                    act.storage.default_result_storage_block_id,
                    now,
                    prefect::event_id(now),
                ));
                act.wt.deleted = true;
                act.commit_then(written)
            })
            .map(|answer, act: &mut WorkPool, ctx| {
                act.core
                    .stats
                    .workers_online
                    .fetch_sub(act.online, Ordering::Relaxed);
                act.online = 0;
                let d = &act.core.directory;
                d.pools.remove(&*act.name);
                d.pool_names.remove(&act.labels.id());
                ctx.stop();
                answer
            }),
        ))
    }
}

impl Handler<crate::core::Release> for WorkPool {
    type Result = ();

    /// Another node owns the pool now: stop, saying and writing nothing.
    fn handle(&mut self, _: crate::core::Release, ctx: &mut Context<Self>) {
        self.core
            .stats
            .workers_online
            .fetch_sub(self.online, Ordering::Relaxed);
        self.online = 0;
        self.wt.outbox.clear();
        ctx.stop();
    }
}

/// The pool's queues, in creation order.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Addr<WorkQueue>>")]
pub struct PoolQueues;

impl Handler<PoolQueues> for WorkPool {
    type Result = MessageResult<PoolQueues>;

    fn handle(&mut self, _: PoolQueues, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.shared
                .queues()
                .iter()
                .map(|q| q.addr.clone())
                .collect(),
        )
    }
}
