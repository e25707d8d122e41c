//! Errors of the bus.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// Why an operation on the bus was refused. Each refusal changes nothing and emits nothing.
///
/// Not `#[non_exhaustive]` on purpose: the server matches every variant, so a
/// new one is a compile error where its HTTP answer must be chosen.
///
/// It serializes, so that an answer relayed from the node that owns a pool
/// (see [`Router`](crate::Router)) is the same error it was there.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum Error {
    /// A name is empty or holds one of Prefect's banned characters `/ % & > <`.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: Cow<'static, str>,
    },
    /// Work pool names starting with `prefect` (any case) are reserved for Prefect.
    #[error("work pool name {0:?} is reserved: names starting with \"prefect\" are Prefect's")]
    ReservedName(String),
    /// A work pool with this name exists.
    #[error("a work pool named {0:?} already exists")]
    PoolExists(String),
    /// A work queue with this name exists in the pool.
    #[error("work pool {pool:?} already has a work queue named {queue:?}")]
    QueueExists {
        /// The pool.
        pool: String,
        /// The queue name.
        queue: String,
    },
    /// No work pool has this name.
    #[error("work pool {0:?} not found")]
    PoolNotFound(String),
    /// No work pool has this id.
    #[error("work pool {0} not found")]
    PoolIdNotFound(Uuid),
    /// No work queue of the pool has this name.
    #[error("work queue {queue:?} not found in work pool {pool:?}")]
    QueueNotFound {
        /// The pool.
        pool: String,
        /// The queue name.
        queue: String,
    },
    /// No work queue has this id.
    #[error("work queue {0} not found")]
    QueueIdNotFound(Uuid),
    /// No worker of the pool has this name.
    #[error("worker {worker:?} not found in work pool {pool:?}")]
    WorkerNotFound {
        /// The pool.
        pool: String,
        /// The worker name.
        worker: String,
    },
    /// A concurrency limit below zero.
    #[error("concurrency_limit must be at least 0, got {0}")]
    NegativeConcurrencyLimit(i64),
    /// A queue priority below one.
    #[error("priority must be at least 1, got {0}")]
    InvalidPriority(i64),
    /// A heartbeat interval of zero seconds.
    #[error("heartbeat_interval_seconds must be at least 1")]
    InvalidHeartbeatInterval,
    /// A pool's default queue cannot be deleted (Prefect refuses it too, after emitting `deleted`).
    #[error("can't delete work pool {0:?}'s default queue")]
    DefaultQueueDeletion(String),
    /// A bound of [`BusConfig`](crate::BusConfig) is reached: no more pools, queues in
    /// the pool, or workers in the pool.
    #[error("at most {max} {what}: the limit is reached")]
    LimitReached {
        /// What is limited.
        what: Cow<'static, str>,
        /// The limit.
        max: usize,
    },
    /// This recipient is subscribed already (it would get every event twice).
    #[error("this recipient is subscribed already, as {0}")]
    AlreadySubscribed(crate::SubscriptionId),
    /// A lossless subscriber is full, or the registry has 256 events or more
    /// waiting to go out, and this operation would not wait: try again after
    /// [`Bus::ready`](crate::Bus::ready).
    #[error("the bus is busy: a lossless subscriber is full or events wait to go out; try again")]
    Busy,
    /// An actor did not answer in time.
    #[error("the bus did not answer in time")]
    Timeout,
    /// The bus, or the actor behind a pool or queue, has stopped.
    #[error("the bus has stopped")]
    Stopped,
    /// The store could not write or read: the change is made in memory but may
    /// not outlive the process (a write), or the bus cannot start (a read).
    #[error("the store failed: {0}")]
    Store(#[serde(with = "store_error")] workbus_store::StoreError),
    /// A record in the store cannot be read back.
    #[error("the store holds a record that cannot be read ({what}): {reason}")]
    CorruptRecord {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
}

/// A store's failure between nodes: a fence stays a fence, a stopped writer a
/// stopped writer, the rest an engine failure with its message.
mod store_error {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use workbus_store::StoreError;

    #[derive(Serialize, Deserialize)]
    enum Wire {
        Fenced(String),
        Stopped,
        /// Any other failure, by its message (the engine's own, without `store: `).
        Engine(String),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Relayed(String);

    pub(super) fn serialize<S: Serializer>(e: &StoreError, s: S) -> Result<S::Ok, S::Error> {
        match e {
            StoreError::Fenced { scope } => Wire::Fenced(scope.clone()),
            StoreError::Stopped => Wire::Stopped,
            StoreError::Engine(inner) => Wire::Engine(inner.to_string()),
            // Opening a store fails on its own node, before any call: said as it reads.
            other => Wire::Engine(other.to_string()),
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StoreError, D::Error> {
        Ok(match Wire::deserialize(d)? {
            Wire::Fenced(scope) => StoreError::Fenced { scope },
            Wire::Stopped => StoreError::Stopped,
            Wire::Engine(message) => StoreError::engine(Relayed(message)),
        })
    }
}

impl From<actix::MailboxError> for Error {
    fn from(e: actix::MailboxError) -> Self {
        match e {
            actix::MailboxError::Closed => Error::Stopped,
            actix::MailboxError::Timeout => Error::Timeout,
        }
    }
}
