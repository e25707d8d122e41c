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
use uuid::Uuid;
use workbus_events::prefect::{self, Changes, QueueLabels, Status};
use workbus_events::{no_related, Timestamp};

use crate::beat::{Beat, Expiry};
use crate::core::Core;
use crate::model::{CreateQueue, QueueInfo, QueueUpdate};
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
}

impl WorkQueue {
    pub(crate) fn new(
        core: Arc<Core>,
        labels: QueueLabels,
        pool_id: Uuid,
        pool_name: Arc<str>,
        req: CreateQueue,
        priority: i64,
        now: Timestamp,
    ) -> Self {
        WorkQueue {
            core,
            labels,
            pool_id,
            pool_name,
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
        // The registry adds the pool as related resource, from its link.
        self.core.emit(prefect::queue_status(
            &self.labels,
            no_related(),
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
        let Some(deadline) = self.poll_deadline() else {
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
            Expiry::Expired => self.set_status(Status::NotReady, now),
            Expiry::Clear => debug_assert!(false, "a READY queue keeps its poll flag set"),
        }
    }
}

impl Actor for WorkQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::pool::MAILBOX);
        crate::stats::moved(&self.core.stats.queues, None, Some(self.status));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        crate::stats::moved(&self.core.stats.queues, Some(self.status), None);
    }
}

/// A worker polled the queue: a `NOT_READY` queue becomes `READY`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Poll;

impl Handler<Poll> for WorkQueue {
    type Result = ();

    fn handle(&mut self, _: Poll, ctx: &mut Context<Self>) {
        let now = self.core.now();
        // Sets the flag too: after a poll the queue is `READY` or `PAUSED`.
        self.polled.mark(now);
        if self.status == Status::NotReady {
            self.set_status(Status::Ready, now);
        }
        if self.status == Status::Ready {
            self.arm(ctx);
        }
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
    type Result = Result<QueueInfo, Error>;

    fn handle(&mut self, UpdateQueue(u): UpdateQueue, ctx: &mut Context<Self>) -> Self::Result {
        u.validate()?;
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
        if !changes.is_empty() {
            self.updated = now;
            self.core.emit(prefect::queue_updated(
                &self.labels,
                no_related(),
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
        Ok(self.info())
    }
}

/// Deletes the queue: emits `deleted`, then stops.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct DeleteQueue;

impl Handler<DeleteQueue> for WorkQueue {
    type Result = ();

    fn handle(&mut self, _: DeleteQueue, ctx: &mut Context<Self>) {
        let now = self.core.now();
        self.core.emit(prefect::queue_deleted(
            &self.labels,
            no_related(),
            now,
            prefect::event_id(now),
        ));
        ctx.stop();
    }
}
