//! Where pools and queues are found by name or id without asking an actor.

use std::sync::Arc;

use actix::{Addr, ArbiterHandle};
use compact_str::CompactString;
use dashmap::DashMap;
use uuid::Uuid;
use workbus_events::{Event, SharedEvent};

use crate::beat::Beat;
use crate::clock::Clock;
use crate::pool::{PoolShared, WorkPool};
use crate::queue::WorkQueue;
use crate::registry::{BusStats, Gate, Publish, Registry};
use crate::BusConfig;

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

/// What every actor of one bus shares.
pub(crate) struct Core {
    pub(crate) registry: Addr<Registry>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: BusConfig,
    pub(crate) directory: Directory,
    pub(crate) arbiter: ArbiterHandle,
    pub(crate) gate: Arc<Gate>,
    pub(crate) stats: Arc<BusStats>,
}

impl Core {
    /// Hands an event to the registry. `do_send` keeps the actor's handler
    /// synchronous; the registry's own buffers bound what subscribers hold.
    /// The event is shared here, so the message is one pointer and the event
    /// is moved into its final place once, not copied through two mailboxes.
    pub(crate) fn emit(&self, event: Event) {
        self.registry.do_send(Publish(SharedEvent::new(event)));
    }

    pub(crate) fn now(&self) -> workbus_events::Timestamp {
        self.clock.now()
    }
}
