//! A handoff: where callers leave items for an actor, which takes them all at once.
//!
//! ## Why not the actor's mailbox
//!
//! Every actix message costs an envelope and a queue node (two allocations) and a
//! turn of the actor's context. With one subscriber that was a seventh of what an
//! event cost (callgrind, `examples/fanout_instructions.rs`). Callers push their
//! items here instead, and only the push that finds the handoff empty sends the
//! actor a message to come and take them: a burst costs one message, however long
//! it is.
//!
//! ## Where it is used
//!
//! - The registry's [`Outbox`]: the events of the bus's pool and queue actors,
//!   taken on [`Drain`](crate::registry::Drain).
//! - A pool's inbox: the calls made on it without waiting (`update_pool_nowait`,
//!   `heartbeat_nowait`), taken on `TakeUnawaited` (see the pool's module docs).
//!
//! ## Order
//!
//! Items leave in the order they were pushed. The push that finds the handoff
//! empty sends the actor its message; every later push finds that message still
//! on its way, and it (or one sent after it) takes the item. So an item is handled
//! before any message sent to the actor after the item was pushed: the mailbox is
//! first in, first out.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use workbus_events::SharedEvent;

/// Items on their way to an actor, in the order they were pushed.
#[derive(Debug)]
pub(crate) struct Handoff<T> {
    items: Mutex<VecDeque<T>>,
}

/// Where the bus's own actors leave their events for the registry.
pub(crate) type Outbox = Handoff<SharedEvent>;

impl<T> Default for Handoff<T> {
    fn default() -> Self {
        Handoff {
            items: Mutex::new(VecDeque::new()),
        }
    }
}

impl<T> Handoff<T> {
    /// Adds an item; answers whether the handoff was empty, in which case the
    /// caller must wake the actor (no message is on its way for this item).
    pub(crate) fn push(&self, item: T) -> bool {
        let mut items = self.lock();
        let was_empty = items.is_empty();
        items.push_back(item);
        was_empty
    }

    /// Moves every waiting item into `into` (empty, its capacity kept), so that
    /// the next push wakes the actor again.
    pub(crate) fn take(&self, into: &mut VecDeque<T>) {
        std::mem::swap(&mut *self.lock(), into);
    }

    /// How many items wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// A panic while the lock was held left the queue as it was (a push or a
    /// swap does not unwind half-way), so a poisoned lock is still good.
    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
