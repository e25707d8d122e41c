//! What every actor of one bus shares: the registry's address, the clock,
//! the settings, the lookup tables, the gate and the counters.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix::{Addr, ArbiterHandle};
use workbus_events::{Event, SharedEvent, Timestamp};

use crate::clock::Clock;
use crate::directory::Directory;
use crate::gate::Gate;
use crate::handoff::Outbox;
use crate::registry::{Drain, Registry};
use crate::stats::BusStats;
use crate::BusConfig;

/// What every actor of one bus shares.
pub(crate) struct Core {
    pub(crate) registry: Addr<Registry>,
    /// Where the actors leave their events for the registry.
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: BusConfig,
    pub(crate) directory: Directory,
    pub(crate) arbiter: ArbiterHandle,
    pub(crate) gate: Arc<Gate>,
    pub(crate) stats: Arc<BusStats>,
    /// Where changes are written through, when the bus has a store.
    pub(crate) store: Option<Arc<dyn workbus_store::Store>>,
    /// The beats last written lazily, by key (their times in microseconds).
    pub(crate) beats_written: Mutex<HashMap<Vec<u8>, i64>>,
    /// In a fleet, where calls for pools held elsewhere go.
    pub(crate) router: Option<Arc<dyn crate::Router>>,
    /// Places for routed calls nobody waits for ([`crate::bus::MAX_UNAWAITED`]).
    pub(crate) unawaited: Arc<tokio::sync::Semaphore>,
    /// Places for ingested events on their way to the subscribers ([`crate::bus::MAX_INGESTING`]).
    pub(crate) ingesting: Arc<tokio::sync::Semaphore>,
}

thread_local! {
    /// This thread's last reading of a bus's clock (actors' handlers run on
    /// one thread from the reading to the emit).
    static LAST_READING: Cell<Option<(Timestamp, Instant)>> = const { Cell::new(None) };
}

impl Core {
    /// Hands an event to the registry through the outbox, waking the registry
    /// only when the outbox was empty. It keeps the actor's handler synchronous;
    /// the registry's own buffers bound what subscribers hold. The event is
    /// shared here, so it is moved into its final place once.
    pub(crate) fn emit(&self, event: Event) {
        // The event's `occurred` is, nearly always, the reading this thread's
        // actor has just taken: its instant is when the bus took the event in.
        let at = LAST_READING
            .get()
            .filter(|(ts, _)| *ts == event.occurred)
            .map_or_else(Instant::now, |(_, at)| at);
        if self.outbox.push(SharedEvent::taken_in_at(event, None, at)) {
            self.registry.do_send(Drain);
        }
    }

    /// Now, on the bus's clock; the reading's instant, when the clock gives
    /// one, is kept for [`Core::emit`].
    pub(crate) fn now(&self) -> Timestamp {
        let (ts, at) = self.clock.reading();
        if let Some(at) = at {
            LAST_READING.set(Some((ts, at)));
        }
        ts
    }

    /// Forgets the pool named `name` here without a word: no event, no write.
    /// Its actors stop after what they are doing; its state stays where the
    /// store keeps it, for the node that owns the pool now.
    pub(crate) fn release(&self, name: &str) -> bool {
        let Some((_, entry)) = self.directory.pools.remove(name) else {
            return false;
        };
        self.directory.pool_names.remove(&entry.shared.id);
        for q in entry.shared.queues().iter() {
            self.directory.queues.remove(&q.id);
            q.addr.do_send(Release);
        }
        entry.addr.do_send(Release);
        true
    }
}

/// Stops a pool's or a queue's actor without a word (see [`Core::release`]).
#[derive(Debug, Clone, Copy, actix::Message)]
#[rtype(result = "()")]
pub(crate) struct Release;
