//! Where pools and queues are found by name or id without asking an actor.

use std::sync::Arc;

use actix::Addr;
use compact_str::CompactString;
use dashmap::DashMap;
use uuid::Uuid;

use crate::beat::Beat;
use crate::pool::{PoolShared, WorkPool};
use crate::queue::WorkQueue;

#[derive(Clone)]
pub(crate) struct PoolEntry {
    pub(crate) addr: Addr<WorkPool>,
    pub(crate) shared: Arc<PoolShared>,
}

#[derive(Clone)]
pub(crate) struct QueueEntry {
    pub(crate) pool_id: Uuid,
    pub(crate) addr: Addr<WorkQueue>,
    pub(crate) polled: Arc<Beat>,
}

/// Names are hashed on every heartbeat and poll: a fast hasher pays off.
pub(crate) type Hasher = foldhash::fast::RandomState;

/// The lookup tables. Pools and queues keep them current; nothing else writes them.
#[derive(Default)]
pub(crate) struct Directory {
    /// Keyed inline (names up to 24 bytes): every heartbeat and poll looks a pool up by name.
    pub(crate) pools: DashMap<CompactString, PoolEntry, Hasher>,
    pub(crate) pool_names: DashMap<Uuid, Arc<str>, Hasher>,
    pub(crate) queues: DashMap<Uuid, QueueEntry, Hasher>,
}
