//! Serving a pool that lives on another node: calls as values, and the router
//! that takes them there.
//!
//! A bus alone serves every pool it holds. A bus in a fleet (the
//! `workbus-cluster` crate) is given a [`Router`] when it is built: every call
//! for a pool this bus does not hold, and every creation, goes to the router
//! as a [`Call`], and the router answers it: at the node that owns the pool
//! (over the network), or here once this node has taken the pool over. The
//! node that serves a call runs it with [`Bus::serve`], which never routes, so
//! a call moves at most once.
//!
//! Calls and answers serialize (JSON between nodes); an [`Error`] does too, so
//! a refusal relayed from the owner is the same refusal it was there.
//!
//! Lists (`pools`, `find_pools`, the names and ids) read the router's view of
//! the fleet ([`Router::fleet`]), then each pool where it lives.

use std::fmt;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{
    CreatePool, CreateQueue, HeartbeatInterval, PoolInfo, PoolUpdate, QueueInfo, QueueUpdate,
    WorkerInfo,
};
use crate::{Bus, Error};

/// An operation of the bus, for one pool, as a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The pool's name: where the call goes.
    pub pool: String,
    /// What to do there.
    pub op: Op,
}

/// What a [`Call`] does: one per operation of [`Bus`] on a pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // Each is the `Bus` method of the same name.
pub enum Op {
    CreatePool(CreatePool),
    Pool,
    UpdatePool(PoolUpdate),
    DeletePool,
    Heartbeat {
        worker: String,
        interval: Option<HeartbeatInterval>,
    },
    Workers,
    DeleteWorker(String),
    CreateQueue(CreateQueue),
    Queue(String),
    QueueById(Uuid),
    Queues,
    UpdateQueue {
        queue: String,
        update: QueueUpdate,
    },
    UpdateQueueById {
        id: Uuid,
        update: QueueUpdate,
    },
    DeleteQueue(String),
    DeleteQueueById(Uuid),
    Poll(Vec<String>),
    PollQueue(Uuid),
}

impl Op {
    /// A heartbeat, as it travels.
    pub(crate) fn heartbeat(beat: &crate::model::Heartbeat<'_>) -> Op {
        Op::Heartbeat {
            worker: beat.worker().to_owned(),
            interval: beat.interval(),
        }
    }
}

/// What a [`Call`] answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Answer {
    Pool(Box<PoolInfo>),
    Queue(QueueInfo),
    Queues(Vec<QueueInfo>),
    Workers(Vec<WorkerInfo>),
    Done,
}

/// A pool as the fleet knows it without asking it: enough to route, filter and page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRef {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: Uuid,
    /// Its type.
    pub pool_type: String,
    /// Its queues' ids.
    pub queues: Vec<Uuid>,
}

/// Takes calls to the node that owns their pool.
pub trait Router: Send + Sync + fmt::Debug + 'static {
    /// Answers `call` for a pool `bus` does not hold (or creates): at the
    /// owner, or here once this node has taken the pool over, with
    /// [`Bus::serve`].
    fn route(&self, bus: &Bus, call: Call) -> BoxFuture<'static, Result<Answer, Error>>;

    /// Whether this node may serve the pools it holds from memory now. A node
    /// whose lease lapsed (paused, cut off) answers `false` until it has let
    /// them go and joined again: meanwhile every call goes to [`route`](Self::route).
    fn serves_held(&self) -> bool {
        true
    }

    /// Every pool of the fleet, as far as this node knows.
    fn fleet(&self) -> Vec<PoolRef>;

    /// The pool with this id, or the pool of the queue with this id.
    fn pool_of(&self, id: Uuid) -> Option<PoolRef>;

    /// The pool named `name`.
    fn pool_named(&self, name: &str) -> Option<PoolRef>;
}

/// An answer that is not the one the call asks for: the other node runs another version.
fn unexpected(answer: &Answer) -> Error {
    Error::CorruptRecord {
        what: "an answer from another node".into(),
        reason: format!("unexpected {answer:?}"),
    }
}

impl Answer {
    pub(crate) fn pool(self) -> Result<PoolInfo, Error> {
        match self {
            Answer::Pool(p) => Ok(*p),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn queue(self) -> Result<QueueInfo, Error> {
        match self {
            Answer::Queue(q) => Ok(q),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn queues(self) -> Result<Vec<QueueInfo>, Error> {
        match self {
            Answer::Queues(q) => Ok(q),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn workers(self) -> Result<Vec<WorkerInfo>, Error> {
        match self {
            Answer::Workers(w) => Ok(w),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn done(self) -> Result<(), Error> {
        match self {
            Answer::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl PoolRef {
    /// What a pool's record, as a store holds it ([`Table::Pools`](workbus_store::Table::Pools)),
    /// says of the pool: how a fleet's node knows the pools it does not hold.
    pub fn from_record(value: &[u8]) -> Result<PoolRef, Error> {
        let p: crate::record::PoolRecord =
            serde_json::from_slice(value).map_err(|e| Error::CorruptRecord {
                what: "a work pool's record".into(),
                reason: e.to_string(),
            })?;
        Ok(PoolRef {
            queues: p.queues.iter().map(|q| q.0).collect(),
            name: p.name,
            id: p.id,
            pool_type: p.pool_type,
        })
    }
}
