//! The registry's outbox: where the bus's own pool and queue actors leave their events.
//!
//! ## Why not the registry's mailbox
//!
//! Every actix message costs an envelope and a queue node (two allocations) and a
//! turn of the registry's context. With one subscriber that was a seventh of what an
//! event cost (callgrind, `examples/fanout_instructions.rs`). The actors push their
//! events here instead, and only the push that finds the outbox empty sends the
//! registry a message, [`Drain`], to come and take them: a burst of events costs one
//! message, however long it is.
//!
//! ## Order
//!
//! Events leave in the order they were pushed. A [`Drain`] dispatches them in
//! turns (see the registry), but the registry dispatches every waiting event
//! before it handles any other message, so an operation's events are dispatched
//! before a flush, a subscribe or an unsubscribe that was asked for after it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use workbus_events::SharedEvent;

/// Events on their way to the registry, in the order they were emitted.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    events: Mutex<VecDeque<SharedEvent>>,
}

impl Outbox {
    /// Adds an event; answers whether the outbox was empty, in which case the
    /// caller must wake the registry (no [`Drain`] is on its way for this event).
    pub(crate) fn push(&self, event: SharedEvent) -> bool {
        let mut events = self.lock();
        let was_empty = events.is_empty();
        events.push_back(event);
        was_empty
    }

    /// Moves every waiting event into `into` (empty, its capacity kept), so that
    /// the next push wakes the registry again.
    pub(crate) fn take(&self, into: &mut VecDeque<SharedEvent>) {
        std::mem::swap(&mut *self.lock(), into);
    }

    /// How many events wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// A panic while the lock was held left the queue as it was (a push or a
    /// swap does not unwind half-way), so a poisoned lock is still good.
    fn lock(&self) -> MutexGuard<'_, VecDeque<SharedEvent>> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Tells the registry that the outbox has events for it.
#[derive(Debug, Clone, Copy, actix::Message)]
#[rtype(result = "()")]
pub(crate) struct Drain;
