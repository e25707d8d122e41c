//! The work-queue actor: a queue's fields, its last poll, and its status.
//!
//! ## Status
//!
//! | from | trigger | to | event |
//! |---|---|---|---|
//! | — | created | `NOT_READY` (`PAUSED` if created paused) | `created` (emitted by its pool) |
//! | `NOT_READY` | a poll | `READY` | `ready` |
//! | `READY` | not polled for the poll timeout | `NOT_READY` | `not-ready` |
//! | not `PAUSED` | pause | `PAUSED` | `paused` |
//! | `PAUSED` | resume | `READY` if polled within the poll timeout, else `NOT_READY` | `ready` / `not-ready` |
//! | `PAUSED` | a poll | `PAUSED` | none (`last_polled` still moves) |
//!
//! The queue keeps one timer, for the moment its last poll expires.
//!
//! ## Polls that change nothing
//!
//! A poll of a `READY` or `PAUSED` queue only moves `last_polled`. That time
//! is an atomic word the bus handle can reach, flagged exactly
//! while the queue is `READY` or `PAUSED`, so such polls never enter the
//! mailbox; a poll that finds the flag clear is sent as [`Poll`].

use std::borrow::Cow;
use std::sync::Arc;

use actix::prelude::*;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;
use workbus_events::prefect::{self, Changes, QueueLabels, Status};
use workbus_events::{Event, Resource, Timestamp};
use workbus_store::{Batch, Table};

use crate::beat::{Beat, Expiry};
use crate::core::Core;
use crate::journal::{self, Durable};
use crate::model::{CreateQueue, QueueInfo, QueueUpdate};
use crate::record::{self, QueueRecord};
use crate::Error;

/// The description Prefect gives a pool's default queue.
pub(crate) const DEFAULT_QUEUE_DESCRIPTION: &str = "The work pool's default queue.";

/// A work queue, as an actor. Created by its pool.
pub struct WorkQueue {
    core: Arc<Core>,
    labels: QueueLabels,
    pool_id: Uuid,
    pool_name: Arc<str>,
    name: String,
    /// Every default queue has the same description: borrowed, not copied.
    description: Cow<'static, str>,
    concurrency_limit: Option<i64>,
    priority: i64,
    is_paused: bool,
    /// `last_polled`, flagged while a poll changes nothing else.
    polled: Arc<Beat>,
    status: Status,
    created: Timestamp,
    updated: Timestamp,
    timer: Option<(Timestamp, SpawnHandle)>,
    /// Its pool, as the related resource of its events.
    pool_related: Arc<[Resource]>,
    /// With a store: what a handler emitted, committed with the queue's record, then published.
    outbox: Vec<Event>,
    /// With a store: the queue was deleted (its record goes, not comes).
    deleted: bool,
    /// A new queue of a bus with a store waits for its pool's commit of its `created`.
    born: Option<oneshot::Receiver<()>>,
    /// A queue rebuilt from a store: its first poll deadline, pushed past the restart.
    first_deadline: Option<Timestamp>,
}

/// The fields of a queue, for [`WorkQueue::new`].
pub(crate) struct NewQueue {
    pub(crate) labels: QueueLabels,
    pub(crate) pool_id: Uuid,
    pub(crate) pool_name: Arc<str>,
    pub(crate) pool_related: Arc<[Resource]>,
    pub(crate) born: Option<oneshot::Receiver<()>>,
}

impl WorkQueue {
    pub(crate) fn new(
        core: Arc<Core>,
        q: NewQueue,
        req: CreateQueue,
        priority: i64,
        now: Timestamp,
    ) -> Self {
        WorkQueue {
            core,
            labels: q.labels,
            pool_id: q.pool_id,
            pool_name: q.pool_name,
            pool_related: q.pool_related,
            outbox: Vec::new(),
            deleted: false,
            born: q.born,
            first_deadline: None,
            name: req.name,
            description: match req.description {
                Some(d) if d == DEFAULT_QUEUE_DESCRIPTION => {
                    Cow::Borrowed(DEFAULT_QUEUE_DESCRIPTION)
                }
                Some(d) => Cow::Owned(d),
                None => Cow::Borrowed(""),
            },
            concurrency_limit: req.concurrency_limit,
            priority,
            is_paused: req.is_paused,
            polled: Arc::new(Beat::new(None, req.is_paused)),
            status: if req.is_paused {
                Status::Paused
            } else {
                Status::NotReady
            },
            created: now,
            updated: now,
            timer: None,
        }
    }

    /// A queue rebuilt from its record. A `READY` queue's poll deadline that
    /// passed before `alive` (the last time the bus was known to run) fires at
    /// once; one that passed while the bus was down is pushed to a full poll
    /// timeout after `now`, so that a queue still polled does not flap.
    pub(crate) fn restored(
        core: Arc<Core>,
        q: NewQueue,
        rec: QueueRecord,
        polled: Option<Timestamp>,
        now: Timestamp,
        alive: Timestamp,
    ) -> Self {
        let last_polled = match (rec.last_polled, polled) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let flagged = matches!(rec.status, Status::Ready | Status::Paused);
        let timeout = core.config.queue_poll_timeout;
        let first_deadline = (rec.status == Status::Ready)
            .then(|| last_polled.map(|at| at.add(timeout)))
            .flatten()
            .map(|d| {
                if d <= alive {
                    d
                } else {
                    d.max(now.add(timeout))
                }
            });
        WorkQueue {
            labels: q.labels,
            pool_id: q.pool_id,
            pool_name: q.pool_name,
            pool_related: q.pool_related,
            outbox: Vec::new(),
            deleted: false,
            born: None,
            first_deadline,
            name: rec.name,
            description: if rec.description == DEFAULT_QUEUE_DESCRIPTION {
                Cow::Borrowed(DEFAULT_QUEUE_DESCRIPTION)
            } else {
                Cow::Owned(rec.description)
            },
            concurrency_limit: rec.concurrency_limit,
            priority: rec.priority,
            is_paused: rec.is_paused,
            polled: Arc::new(Beat::new(last_polled, flagged)),
            status: rec.status,
            created: rec.created,
            updated: rec.updated,
            timer: None,
            core,
        }
    }

    /// Its record, as a store keeps it.
    pub(crate) fn record(&self) -> QueueRecord {
        QueueRecord {
            id: self.labels.id(),
            pool_id: self.pool_id,
            name: self.name.clone(),
            description: self.description.to_string(),
            concurrency_limit: self.concurrency_limit,
            priority: self.priority,
            is_paused: self.is_paused,
            status: self.status,
            last_polled: self.polled.at(),
            created: self.created,
            updated: self.updated,
        }
    }

    /// Emits an event (built with the pool as related resource): to the registry at
    /// once, or with a store to the outbox, published once the change is committed.
    fn emit(&mut self, event: Event) {
        if self.core.store.is_some() {
            self.outbox.push(event);
        } else {
            self.core.emit(event);
        }
    }

    /// The change a handler made, as a batch and its events (nothing without a store).
    fn take_change(&mut self, changed: bool) -> Option<(Batch, Vec<Event>)> {
        self.core.store.as_ref()?;
        if !changed && self.outbox.is_empty() {
            return None;
        }
        let mut batch = Batch::new().scoped(self.pool_name.as_bytes());
        let key = record::id_key(self.labels.id());
        if self.deleted {
            batch.delete(Table::Queues, key.clone());
            batch.delete(Table::Beats, key);
        } else {
            record::put(&mut batch, Table::Queues, key, &self.record());
        }
        Some((batch, std::mem::take(&mut self.outbox)))
    }

    /// Answers `answer` once what the handler changed is durable.
    fn durable<T: 'static>(
        &mut self,
        changed: bool,
        answer: Result<T, Error>,
    ) -> Durable<Self, Result<T, Error>> {
        match (self.core.store.clone(), self.take_change(changed)) {
            (Some(store), Some((batch, events))) => {
                let commit = journal::commit(self.core.clone(), store, batch, events);
                // A change that was not written is not answered done.
                Durable::After(Box::pin(
                    commit.into_actor(self).map(move |r, _, _| r.and(answer)),
                ))
            }
            _ => Durable::Now(answer),
        }
    }

    /// Commits what a timer changed; the queue handles nothing else meanwhile.
    fn persist(&mut self, ctx: &mut Context<Self>) {
        if let (Some(store), Some((batch, events))) =
            (self.core.store.clone(), self.take_change(true))
        {
            let commit = journal::commit(self.core.clone(), store, batch, events);
            ctx.wait(commit.into_actor(self).map(|_, _, _| ()));
        }
    }

    /// The queue's poll time, shared with the bus handle.
    pub(crate) fn polled(&self) -> Arc<Beat> {
        self.polled.clone()
    }

    fn info(&self) -> QueueInfo {
        QueueInfo {
            id: self.labels.id(),
            created: self.created,
            updated: self.updated,
            name: self.name.clone(),
            description: self.description.to_string(),
            is_paused: self.is_paused,
            concurrency_limit: self.concurrency_limit,
            priority: self.priority,
            work_pool_id: self.pool_id,
            work_pool_name: self.pool_name.to_string(),
            last_polled: self.polled.at(),
            status: self.status,
        }
    }

    /// Callers leaving `READY` or `PAUSED` for `NOT_READY` have cleared the
    /// poll flag already, deciding on the latest poll time.
    fn set_status(&mut self, status: Status, now: Timestamp) {
        if matches!(status, Status::Ready | Status::Paused) {
            self.polled.unlock();
        }
        if self.status == status {
            return;
        }
        crate::stats::moved(&self.core.stats.queues, Some(self.status), Some(status));
        self.status = status;
        self.emit(prefect::queue_status(
            &self.labels,
            self.pool_related.clone(),
            status,
            now,
            prefect::event_id(now),
        ));
    }

    fn poll_deadline(&self) -> Option<Timestamp> {
        self.polled
            .at()
            .map(|at| at.add(self.core.config.queue_poll_timeout))
    }

    fn arm(&mut self, ctx: &mut Context<Self>) {
        let Some(deadline) = self.first_deadline.take().or_else(|| self.poll_deadline()) else {
            return;
        };
        if let Some((at, handle)) = self.timer {
            if at <= deadline {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = deadline.since(self.core.now());
        let handle = ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.check_poll(ctx);
        });
        self.timer = Some((deadline, handle));
    }

    fn check_poll(&mut self, ctx: &mut Context<Self>) {
        if self.status != Status::Ready {
            return;
        }
        let now = self.core.now();
        match self.polled.expire(now, self.core.config.queue_poll_timeout) {
            Expiry::Until(_) => self.arm(ctx),
            Expiry::Expired => {
                self.set_status(Status::NotReady, now);
                self.persist(ctx);
            }
            Expiry::Clear => debug_assert!(false, "a READY queue keeps its poll flag set"),
        }
    }
}

impl Actor for WorkQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::pool::MAILBOX);
        crate::stats::moved(&self.core.stats.queues, None, Some(self.status));
        // Nothing of a new queue is handled before its `created` is durable.
        if let Some(born) = self.born.take() {
            ctx.wait(
                async move {
                    let _ = born.await;
                }
                .into_actor(self),
            );
        }
        if self.first_deadline.is_some() {
            self.arm(ctx);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        crate::stats::moved(&self.core.stats.queues, Some(self.status), None);
    }
}

impl Handler<crate::core::Release> for WorkQueue {
    type Result = ();

    /// Its pool is owned by another node now: stop, saying and writing nothing.
    fn handle(&mut self, _: crate::core::Release, ctx: &mut Context<Self>) {
        self.outbox.clear();
        ctx.stop();
    }
}

/// A worker polled the queue: a `NOT_READY` queue becomes `READY`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Poll;

impl Handler<Poll> for WorkQueue {
    type Result = Durable<Self, Result<(), Error>>;

    fn handle(&mut self, _: Poll, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.core.now();
        // Sets the flag too: after a poll the queue is `READY` or `PAUSED`.
        self.polled.mark(now);
        let woke = self.status == Status::NotReady;
        if woke {
            self.set_status(Status::Ready, now);
        }
        if self.status == Status::Ready {
            self.arm(ctx);
        }
        // A poll that changed only the time is written lazily, with the beats.
        self.durable(woke, Ok(()))
    }
}

/// Reads the queue.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "QueueInfo")]
pub struct GetQueue;

impl Handler<GetQueue> for WorkQueue {
    type Result = MessageResult<GetQueue>;

    fn handle(&mut self, _: GetQueue, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.info())
    }
}

/// The pool moved the queue to keep its priorities distinct; the pool has
/// emitted the `updated` event already, in order with the change that caused it.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct SetPriority {
    pub(crate) priority: i64,
    pub(crate) at: Timestamp,
}

impl Handler<SetPriority> for WorkQueue {
    type Result = ();

    fn handle(&mut self, m: SetPriority, _: &mut Context<Self>) {
        self.priority = m.priority;
        self.updated = m.at;
    }
}

/// Changes fields, pauses or resumes. Sent by the queue's pool, which checks
/// that a new name is free in the pool.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<QueueInfo, Error>")]
pub struct UpdateQueue(pub QueueUpdate);

impl Handler<UpdateQueue> for WorkQueue {
    type Result = Durable<Self, Result<QueueInfo, Error>>;

    fn handle(&mut self, UpdateQueue(u): UpdateQueue, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = u.validate() {
            return Durable::Now(Err(e));
        }
        let mut changes = Changes::default();
        // Prefect's field order: name, description, concurrency_limit, priority.
        if let Some(name) = u.name {
            if name != self.name {
                let from = std::mem::replace(&mut self.name, name);
                self.labels = QueueLabels::new(self.labels.id(), &self.name);
                changes.push(
                    "name",
                    Value::String(from),
                    Value::String(self.name.clone()),
                );
            }
        }
        if let Some(d) = u.description {
            if d != self.description {
                let from = std::mem::replace(&mut self.description, Cow::Owned(d));
                changes.push(
                    "description",
                    Value::String(from.into_owned()),
                    Value::String(self.description.to_string()),
                );
            }
        }
        if let Some(l) = u.concurrency_limit {
            if l != self.concurrency_limit {
                let to = l.map_or(Value::Null, Value::from);
                let from = self.concurrency_limit.map_or(Value::Null, Value::from);
                self.concurrency_limit = l;
                changes.push("concurrency_limit", from, to);
            }
        }
        if let Some(p) = u.priority {
            if p != self.priority {
                changes.push("priority", Value::from(self.priority), Value::from(p));
                self.priority = p;
            }
        }
        if let Some(at) = u.last_polled {
            self.polled.set(at);
        }
        let now = self.core.now();
        let changed = !changes.is_empty() || u.is_paused.is_some() || u.last_polled.is_some();
        if !changes.is_empty() {
            self.updated = now;
            self.emit(prefect::queue_updated(
                &self.labels,
                self.pool_related.clone(),
                changes,
                now,
                prefect::event_id(now),
            ));
        }
        match u.is_paused {
            Some(true) if self.status != Status::Paused => {
                self.is_paused = true;
                self.updated = now;
                self.set_status(Status::Paused, now);
            }
            Some(false) if self.status == Status::Paused => {
                self.is_paused = false;
                self.updated = now;
                let deadline = self
                    .polled
                    .lock_out()
                    .map(|at| at.add(self.core.config.queue_poll_timeout));
                let to = if deadline.is_some_and(|d| now < d) {
                    Status::Ready
                } else {
                    Status::NotReady
                };
                self.set_status(to, now);
                self.arm(ctx);
            }
            Some(p) => self.is_paused = p,
            None => {}
        }
        if self.status == Status::Ready {
            self.arm(ctx);
        }
        let info = self.info();
        self.durable(changed, Ok(info))
    }
}

/// Deletes the queue: emits `deleted`, then stops.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DeleteQueue;

impl Handler<DeleteQueue> for WorkQueue {
    type Result = Durable<Self, Result<(), Error>>;

    fn handle(&mut self, _: DeleteQueue, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.core.now();
        self.emit(prefect::queue_deleted(
            &self.labels,
            self.pool_related.clone(),
            now,
            prefect::event_id(now),
        ));
        self.deleted = true;
        match self.durable(true, Ok(())) {
            Durable::Now(r) => {
                ctx.stop();
                Durable::Now(r)
            }
            Durable::After(commit) => Durable::After(Box::pin(commit.map(|r, _, ctx| {
                ctx.stop();
                r
            }))),
        }
    }
}
