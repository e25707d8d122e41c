//! The registry actor: it receives every event (the bus's own through the
//! [`Outbox`], others as [`Publish`] or [`Ingest`] messages), links queues to
//! their pools, and fans each event out to the subscribers whose filter matches.
//!
//! ## Fan-out
//!
//! Filters are indexed by the resource ids they require (see
//! [`IndexHint`]), so an event is tested only against the subscribers that
//! could want it, not against every filter. Each matching subscriber gets
//! the same [`SharedEvent`] through `try_send`, which respects its mailbox's
//! capacity. When the mailbox is full, the event waits in a bounded buffer
//! the registry keeps for that subscriber, and later events queue behind it,
//! so each subscriber sees events in the order they were emitted.
//!
//! ## Turns
//!
//! Events are dispatched in turns of about
//! [`BusConfig::turn_deliveries`](crate::BusConfig::turn_deliveries)
//! deliveries, whether they come as one burst from the outbox or as many
//! [`Publish`] and [`Ingest`] messages; between two turns the registry yields,
//! so that subscribers on its arbiter read their messages while these are still
//! in the CPU's cache, not after hundreds of events times 64 subscribers have
//! evicted them. At 64 subscribers and more that made fan-out about twice as
//! fast (see `docs/performance.md`). The registry handles no message while it
//! yields, and what is left of a burst goes out first, so order is the same.
//!
//! Producers on the same arbiter would then outrun it: a loop of `_nowait`
//! calls queues hundreds of events a turn while a turn at 64 subscribers
//! dispatches 64. So while 256 events or more wait after a turn, the registry
//! closes the bus's gate (operations wait, `_nowait` calls are refused with
//! [`Error::Busy`](crate::Error::Busy)) and opens it below half: the events in flight
//! stay few, and their allocations are reused while they are still in cache.
//!
//! ## Backpressure and loss
//!
//! A buffer that fills applies the subscriber's [`Overflow`] policy: `Block`
//! closes the bus's gate, so new operations wait until the buffer drains to
//! half; `DropNewest` drops and counts. A subscriber that has stopped is
//! removed, its buffered events counted as dropped. The registry itself
//! never waits for a subscriber.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use workbus_events::{Event, EventKind, IndexHint, Resource, SharedEvent};

use crate::clock::Clock;
use crate::gate::Gate;
use crate::handoff::Outbox;
use crate::stats::BusStats;
use crate::subscription::{
    bump, Deliver, Overflow, SubscribeOptions, SubscriberStats, SubscriptionId, SubscriptionInfo,
};
use crate::Error;

/// Events taken in and not yet dispatched past which the registry closes the
/// gate (see the module docs); it opens it again below half.
pub(crate) const MAX_BEHIND: usize = 256;

/// Resource ids are long strings hashed on every event: a fast hasher pays off.
type Map<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

// What a delivery reads comes first, in one cache line of its own: at 64
// subscribers the registry walks 64 slots an event, and the subscribers' own
// work between two events evicts them. The filter is boxed for the same reason:
// inline, it made a slot 520 bytes.
#[repr(C, align(64))]
struct Subscriber {
    recipient: Recipient<Deliver>,
    /// `None` when the filter matches everything, so it is not even tried.
    filter: Option<Box<workbus_events::EventFilter>>,
    stats: Arc<SubscriberStats>,
    pending: VecDeque<SharedEvent>,
    // The rest is read when a subscriber is full, found by an index, or managed.
    stamp: u64,
    id: SubscriptionId,
    name: Arc<str>,
    buffer: usize,
    overflow: Overflow,
    closing_gate: bool,
    keys: Keys,
}

#[derive(Clone)]
enum Keys {
    Primary(Vec<Box<str>>),
    Any(Vec<Box<str>>),
    Everything,
}

/// The registry actor. Start it through [`Bus`](crate::Bus); its messages are
/// public so that sources of outside events (a NATS bridge) can publish too.
pub struct Registry {
    clock: Arc<dyn Clock>,
    gate: Arc<Gate>,
    stats: Arc<BusStats>,
    subs: Vec<Option<Subscriber>>,
    free: Vec<usize>,
    by_primary: Map<Vec<usize>>,
    by_any: Map<Vec<usize>>,
    everything: Vec<usize>,
    links: HashMap<uuid::Uuid, Arc<[Resource]>, foldhash::fast::RandomState>,
    next_id: u64,
    stamp: u64,
    backlog: usize,
    draining: bool,
    idle_drains: u32,
    flushes: Vec<oneshot::Sender<()>>,
    /// Reused by every dispatch, so fan-out allocates no list of its own.
    targets: Vec<usize>,
    /// Where the bus's actors leave their events (see [`Outbox`]).
    outbox: Arc<Outbox>,
    /// The events last taken from the outbox and not dispatched yet: empty
    /// between bursts, its capacity kept.
    taken: VecDeque<SharedEvent>,
    /// Deliveries in one turn of a burst (see the module docs).
    turn_deliveries: usize,
    /// Deliveries (at least one an event) made so far in this turn.
    turn_work: usize,
    /// A yield is on its way, after which the burst goes on.
    resuming: bool,
    /// The gate is closed because too many events wait for a turn.
    behind: bool,
}

impl Registry {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        gate: Arc<Gate>,
        stats: Arc<BusStats>,
        outbox: Arc<Outbox>,
        turn_deliveries: usize,
    ) -> Self {
        Registry {
            clock,
            gate,
            stats,
            subs: Vec::new(),
            free: Vec::new(),
            by_primary: Map::default(),
            by_any: Map::default(),
            everything: Vec::new(),
            links: HashMap::default(),
            next_id: 1,
            stamp: 0,
            backlog: 0,
            draining: false,
            idle_drains: 0,
            flushes: Vec::new(),
            targets: Vec::new(),
            outbox,
            taken: VecDeque::new(),
            turn_deliveries: turn_deliveries.max(1),
            turn_work: 0,
            resuming: false,
            behind: false,
        }
    }

    /// Dispatches every event waiting (what is left of a burst, then the
    /// outbox), in order. Every handler calls it first, so that what was emitted
    /// before a message was sent is dispatched before the message is handled.
    fn empty_outbox(&mut self, ctx: &mut Context<Self>) {
        self.dispatch_waiting(usize::MAX, ctx);
        // Nothing waits now (bar what another thread pushed since): only a
        // closed gate may need opening.
        if self.behind {
            self.hold_producers();
        }
    }

    /// Dispatches waiting events, in order, until none is left or this turn's
    /// deliveries reach `budget` (what is left is then in `taken`).
    fn dispatch_waiting(&mut self, budget: usize, ctx: &mut Context<Self>) {
        while self.turn_work < budget {
            if let Some(event) = self.taken.pop_front() {
                self.publish(event, ctx);
                continue;
            }
            // `taken` is empty: the swap leaves the outbox empty, its capacity kept.
            self.outbox.take(&mut self.taken);
            if self.taken.is_empty() {
                return;
            }
        }
    }

    /// Dispatches what the outbox holds, a turn at a time.
    fn dispatch_turn(&mut self, ctx: &mut Context<Self>) {
        self.dispatch_waiting(self.turn_deliveries, ctx);
        self.hold_producers();
        self.end_turn_if_spent(ctx);
    }

    /// Closes the gate while [`MAX_BEHIND`] events or more wait for a turn
    /// (taken or still in the outbox), and opens it below half that.
    fn hold_producers(&mut self) {
        let waiting = self.taken.len() + self.outbox.len();
        if !self.behind && waiting >= MAX_BEHIND {
            self.behind = true;
            bump(&self.stats.held_back);
            self.gate.close();
        } else if self.behind && waiting < MAX_BEHIND / 2 {
            self.behind = false;
            self.gate.open();
        }
    }

    /// Once a turn's deliveries are made, by one burst or by many messages,
    /// lets the arbiter's other actors run before anything else is handled;
    /// then a new turn starts with what is left of the burst.
    fn end_turn_if_spent(&mut self, ctx: &mut Context<Self>) {
        if self.turn_work < self.turn_deliveries || self.resuming {
            return;
        }
        self.resuming = true;
        // `wait`, not `spawn`: no message is handled before the burst goes on.
        ctx.wait(actix::fut::wrap_future(tokio::task::yield_now()).map(
            |_, act: &mut Registry, ctx| {
                act.resuming = false;
                act.turn_work = 0;
                act.dispatch_turn(ctx);
            },
        ));
    }

    /// Links a queue event to its pool, stamps it, and dispatches it.
    ///
    /// The registry links a queue event to its pool and stamps `received` in
    /// place when it holds the only handle (as it does for the bus's own
    /// events), else on a copy.
    fn publish(&mut self, mut event: SharedEvent, ctx: &mut Context<Self>) {
        // The kind is read once: it decides both the link and the unlink.
        let kind = event.kind();
        // Only queue events are linked; pool events skip the lookup.
        let queue = queue_id(kind, &event);
        // The bus's queues name their pool themselves: the table is read only for
        // an event that came without it.
        let link = queue
            .filter(|_| event.related.is_empty())
            .and_then(|q| self.links.get(&q));
        if let Some(pool) = link {
            event.make_mut().related = pool.clone();
        }
        // Events built by the bus's actors carry `received` already (the same
        // instant as `occurred`); others are stamped on arrival.
        if event.received.is_none() {
            event.make_mut().received = Some(self.clock.now());
        }
        let unlink = queue.filter(|_| kind == Some(EventKind::QueueDeleted));
        bump(&self.stats.published);
        self.dispatch(event, ctx);
        if let Some(q) = unlink {
            self.links.remove(&q);
        }
    }

    fn dispatch(&mut self, event: SharedEvent, ctx: &mut Context<Self>) {
        let mut targets = std::mem::take(&mut self.targets);
        targets.clear();
        if self.by_primary.is_empty() && self.by_any.is_empty() {
            // No indexed filters: the unindexed list is every target, unique and in order.
            targets.extend_from_slice(&self.everything);
        } else {
            self.collect_targets(&event, &mut targets);
        }
        // Fan out in slot order, whatever index found them. The last target
        // takes the registry's own handle: one shared count fewer to move.
        let mut closed = Vec::new();
        let mut event = Some(event);
        let last = targets.len().wrapping_sub(1);
        // An event that goes nowhere still costs its dispatch.
        self.turn_work = self.turn_work.saturating_add(targets.len().max(1));
        for (k, &i) in targets.iter().enumerate() {
            let Some(sub) = self.subs[i].as_mut() else {
                continue;
            };
            let Some(shared) = event.as_ref() else { break };
            if sub.filter.as_ref().is_some_and(|f| !f.matches(shared)) {
                continue;
            }
            let handle = if k == last {
                event.take()
            } else {
                event.clone()
            };
            let Some(handle) = handle else { break };
            bump(&sub.stats.offered);
            if !sub.pending.is_empty() {
                self.backlog += park(sub, handle, &self.gate);
                continue;
            }
            match sub.recipient.try_send(Deliver(handle)) {
                Ok(()) => bump(&sub.stats.delivered),
                Err(SendError::Full(Deliver(e))) => {
                    self.backlog += park(sub, e, &self.gate);
                }
                Err(SendError::Closed(_)) => {
                    bump(&sub.stats.dropped_closed);
                    closed.push(i);
                }
            }
        }
        self.targets = targets;
        for i in closed {
            self.remove(i, "its mailbox is closed");
        }
        self.settle(ctx);
    }

    /// The subscribers whose index keys match `event`, each once, in slot order.
    fn collect_targets(&mut self, event: &SharedEvent, targets: &mut Vec<usize>) {
        self.stamp += 1;
        let stamp = self.stamp;
        let mut take = |subs: &mut [Option<Subscriber>], i: usize| {
            if let Some(s) = subs[i].as_mut() {
                if s.stamp != stamp {
                    s.stamp = stamp;
                    targets.push(i);
                }
            }
        };
        for &i in &self.everything {
            take(&mut self.subs, i);
        }
        if !self.by_primary.is_empty() {
            if let Some(list) = self.by_primary.get(event.resource.id()) {
                for &i in list {
                    take(&mut self.subs, i);
                }
            }
        }
        if !self.by_any.is_empty() {
            for r in std::iter::once(&event.resource).chain(event.related.iter()) {
                if let Some(list) = self.by_any.get(r.id()) {
                    for &i in list {
                        take(&mut self.subs, i);
                    }
                }
            }
        }
        targets.sort_unstable();
    }

    /// Keeps the two promises about the backlog: a drain is scheduled while
    /// there is one, and flushes are answered as soon as there is none.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        debug_assert_eq!(
            self.backlog,
            self.subs
                .iter()
                .flatten()
                .map(|s| s.pending.len())
                .sum::<usize>(),
            "the backlog counter is the sum of the buffers"
        );
        if self.backlog == 0 {
            self.idle_drains = 0;
            for f in self.flushes.drain(..) {
                let _ = f.send(());
            }
        } else if !self.draining {
            self.schedule_drain(ctx, Duration::ZERO);
        }
    }

    fn schedule_drain(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        self.draining = true;
        if delay.is_zero() {
            // Yield so that subscribers on this arbiter get to empty their mailboxes.
            ctx.spawn(
                actix::fut::wrap_future(tokio::task::yield_now())
                    .map(|_, act: &mut Registry, ctx| act.drain(ctx)),
            );
        } else {
            ctx.run_later(delay, |act, ctx| act.drain(ctx));
        }
    }

    fn drain(&mut self, ctx: &mut Context<Self>) {
        self.draining = false;
        // Events that left a buffer, delivered or not: each leaves the backlog once.
        let mut moved = 0usize;
        let mut closed = Vec::new();
        for (i, slot) in self.subs.iter_mut().enumerate() {
            let Some(sub) = slot.as_mut() else { continue };
            while let Some(e) = sub.pending.pop_front() {
                match sub.recipient.try_send(Deliver(e)) {
                    Ok(()) => {
                        bump(&sub.stats.delivered);
                        moved += 1;
                    }
                    Err(SendError::Full(Deliver(e))) => {
                        sub.pending.push_front(e);
                        break;
                    }
                    Err(SendError::Closed(_)) => {
                        bump(&sub.stats.dropped_closed);
                        moved += 1;
                        closed.push(i);
                        break;
                    }
                }
            }
            sub.stats
                .pending
                .store(sub.pending.len(), Ordering::Relaxed);
            if sub.closing_gate && sub.pending.len() <= sub.buffer / 2 {
                sub.closing_gate = false;
                self.gate.open();
            }
        }
        self.backlog -= moved.min(self.backlog);
        for i in closed {
            self.remove(i, "its mailbox is closed");
        }
        if self.backlog == 0 {
            self.settle(ctx);
            return;
        }
        // A subscriber that takes nothing is retried ever less often, up to every 50 ms.
        if moved == 0 {
            self.idle_drains = (self.idle_drains + 1).min(6);
        } else {
            self.idle_drains = 0;
        }
        let delay = match self.idle_drains {
            0 | 1 => Duration::ZERO,
            n => Duration::from_millis((1u64 << (n - 1)).min(50)),
        };
        self.schedule_drain(ctx, delay);
    }

    fn remove(&mut self, i: usize, why: &str) {
        let Some(sub) = self.subs[i].take() else {
            return;
        };
        let lost = sub.pending.len();
        sub.stats
            .dropped_closed
            .fetch_add(lost as u64, Ordering::Relaxed);
        sub.stats.pending.store(0, Ordering::Relaxed);
        self.backlog -= lost.min(self.backlog);
        if sub.closing_gate {
            self.gate.open();
        }
        let unindex = |map: &mut Map<Vec<usize>>, keys: &[Box<str>]| {
            for k in keys {
                if let Some(list) = map.get_mut(k) {
                    list.retain(|&x| x != i);
                    if list.is_empty() {
                        map.remove(k);
                    }
                }
            }
        };
        match &sub.keys {
            Keys::Primary(keys) => unindex(&mut self.by_primary, keys),
            Keys::Any(keys) => unindex(&mut self.by_any, keys),
            Keys::Everything => self.everything.retain(|&x| x != i),
        }
        self.free.push(i);
        self.stats.subscribers.fetch_sub(1, Ordering::Relaxed);
        self.stats.subscriptions.remove(&sub.id);
        if lost > 0 || why != "unsubscribed" {
            tracing::warn!(subscriber = %sub.name, id = %sub.id, lost, "subscriber removed: {why}");
        }
    }
}

/// How many events an [`Overflow::Block`] subscriber may hold before it loses
/// events: the gate closes at its buffer, so only operations that were already
/// past it fill the rest. Twice the buffer, and at least 65,536 more than it, so
/// that many concurrent producers caught past the gate never cost an event.
fn hard_bound(buffer: usize) -> usize {
    buffer.saturating_mul(2).max(buffer.saturating_add(65_536))
}

/// Holds an event for a subscriber whose mailbox is full; returns how many events it added to the backlog.
fn park(sub: &mut Subscriber, e: SharedEvent, gate: &Gate) -> usize {
    // `Block` closes the gate at its buffer, but operations already past the gate
    // still land, up to the hard bound, past which even a lossless subscriber
    // loses events, counted.
    let full = match sub.overflow {
        Overflow::DropNewest => sub.pending.len() >= sub.buffer,
        Overflow::Block => sub.pending.len() >= hard_bound(sub.buffer),
    };
    if full {
        let n = sub.stats.dropped_overflow.fetch_add(1, Ordering::Relaxed) + 1;
        // Log the first drop and then every 1,000th, so a flood does not flood the log.
        if n == 1 || n.is_multiple_of(1000) {
            tracing::warn!(subscriber = %sub.name, dropped = n, event = %e.event, "subscriber buffer full: event dropped");
        }
        return 0;
    }
    sub.pending.push_back(e);
    // Only `Block` holds producers back; a `DropNewest` subscriber never closes the gate,
    // or one that stops answering would stall every producer for good.
    if sub.overflow == Overflow::Block && sub.pending.len() >= sub.buffer && !sub.closing_gate {
        sub.closing_gate = true;
        gate.close();
        tracing::warn!(subscriber = %sub.name, buffer = sub.buffer, "subscriber buffer full: operations wait");
    }
    sub.stats
        .pending
        .store(sub.pending.len(), Ordering::Relaxed);
    1
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Bridges feed the mailbox with do_send, which ignores capacity (the bus's
        // own actors use the outbox); this bounds only callers that use send().
        ctx.set_mailbox_capacity(1 << 16);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Producers waiting for this registry to catch up would wait for good.
        if std::mem::take(&mut self.behind) {
            self.gate.open();
        }
    }
}

/// An event from another source (a bridge); the bus's own pool and queue
/// actors leave theirs in the outbox instead. The registry links a queue event
/// to its pool and stamps `received` in place when it holds the only handle,
/// else on a copy.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Publish(pub SharedEvent);

impl Handler<Publish> for Registry {
    type Result = ();

    fn handle(&mut self, Publish(event): Publish, ctx: &mut Context<Self>) {
        self.empty_outbox(ctx);
        self.publish(event, ctx);
        self.end_turn_if_spent(ctx);
    }
}

/// Tells the registry that the [`Outbox`] has events for it: sent by the push
/// that found it empty.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub(crate) struct Drain;

impl Handler<Drain> for Registry {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        self.dispatch_turn(ctx);
    }
}

/// An event that is already shared, such as one that arrived from another node,
/// with the place it holds among the events being ingested (given back once it is
/// dispatched, when the message is dropped).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Ingest(pub SharedEvent, pub tokio::sync::OwnedSemaphorePermit);

impl Handler<Ingest> for Registry {
    type Result = ();

    fn handle(&mut self, Ingest(event, place): Ingest, ctx: &mut Context<Self>) {
        self.empty_outbox(ctx);
        bump(&self.stats.published);
        self.dispatch(event, ctx);
        drop(place);
        self.end_turn_if_spent(ctx);
    }
}

/// The queue id of a work-queue event, read from its resource id
/// (`prefect.work-queue.<uuid>`); `None` for every other event.
fn queue_id(kind: Option<EventKind>, event: &Event) -> Option<uuid::Uuid> {
    if kind?.subject() != workbus_events::Subject::Queue {
        return None;
    }
    let id = event.resource.id().strip_prefix("prefect.work-queue.")?;
    uuid::Uuid::try_parse(id).ok()
}

/// Links a queue to its pool's related entry, so the queue's events carry it.
/// Keyed by the queue's id rather than its resource id string: one link per
/// queue, so the 16 bytes matter at 100,000 queues.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Link {
    /// The queue's id.
    pub queue: uuid::Uuid,
    /// The pool as related resource (role `work-pool`).
    pub pool: Arc<[Resource]>,
}

impl Handler<Link> for Registry {
    type Result = ();

    fn handle(&mut self, link: Link, ctx: &mut Context<Self>) {
        self.empty_outbox(ctx);
        self.links.insert(link.queue, link.pool);
    }
}

/// Adds a subscriber.
#[derive(Message)]
#[rtype(result = "Result<SubscriptionInfo, Error>")]
pub struct Subscribe {
    /// Where events go.
    pub recipient: Recipient<Deliver>,
    /// How.
    pub options: SubscribeOptions,
}

impl Handler<Subscribe> for Registry {
    type Result = Result<SubscriptionInfo, Error>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Self::Result {
        // Events emitted before the subscriber asked are not its to see.
        self.empty_outbox(ctx);
        // The same actor twice would get every event twice.
        if let Some(same) = self
            .subs
            .iter()
            .flatten()
            .find(|s| s.recipient == msg.recipient)
        {
            return Err(Error::AlreadySubscribed(same.id));
        }
        let id = SubscriptionId(self.next_id);
        self.next_id += 1;
        let name: Arc<str> = msg.options.name.into();
        let stats = Arc::new(SubscriberStats::default());
        let filter = msg.options.filter;
        let keys = match filter.index_hint() {
            IndexHint::Primary(ids) => {
                Keys::Primary(ids.iter().map(|s| s.as_str().into()).collect())
            }
            IndexHint::AnyResource(ids) => {
                Keys::Any(ids.iter().map(|s| s.as_str().into()).collect())
            }
            IndexHint::Everything => Keys::Everything,
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.subs.push(None);
            self.subs.len() - 1
        });
        match &keys {
            Keys::Primary(ks) => ks
                .iter()
                .for_each(|k| self.by_primary.entry(k.clone()).or_default().push(slot)),
            Keys::Any(ks) => ks
                .iter()
                .for_each(|k| self.by_any.entry(k.clone()).or_default().push(slot)),
            Keys::Everything => {
                // Kept in slot order, so that dispatch can use it as it is.
                let at = self.everything.partition_point(|&x| x < slot);
                self.everything.insert(at, slot);
            }
        }
        self.subs[slot] = Some(Subscriber {
            id,
            name: name.clone(),
            recipient: msg.recipient,
            filter: (!filter.is_all()).then(|| Box::new(filter)),
            buffer: msg.options.buffer.max(1),
            overflow: msg.options.overflow,
            pending: VecDeque::new(),
            closing_gate: false,
            stamp: 0,
            stats: stats.clone(),
            keys,
        });
        self.stats.subscribers.fetch_add(1, Ordering::Relaxed);
        let subscription = SubscriptionInfo { id, name, stats };
        self.stats.subscriptions.insert(id, subscription.clone());
        Ok(subscription)
    }
}

/// Removes a subscriber; its buffered events are counted as dropped. Answers whether it existed.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct Unsubscribe(pub SubscriptionId);

impl Handler<Unsubscribe> for Registry {
    type Result = bool;

    fn handle(&mut self, Unsubscribe(id): Unsubscribe, ctx: &mut Context<Self>) -> bool {
        // Events emitted before the subscriber left are still its own.
        self.empty_outbox(ctx);
        let slot = self
            .subs
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == id));
        match slot {
            Some(i) => {
                self.remove(i, "unsubscribed");
                self.settle(ctx);
                true
            }
            None => false,
        }
    }
}

/// Answers once every event taken in so far is in its subscribers' mailboxes.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, ctx: &mut Context<Self>) -> Self::Result {
        self.empty_outbox(ctx);
        if self.backlog == 0 {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.flushes.push(tx);
        self.settle(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of, size_of};

    use super::Subscriber;

    #[test]
    fn what_a_delivery_reads_fits_in_one_cache_line() {
        assert_eq!(align_of::<Subscriber>(), 64);
        assert_eq!(offset_of!(Subscriber, recipient), 0);
        for end in [
            offset_of!(Subscriber, filter) + 8,
            offset_of!(Subscriber, stats) + 8,
            offset_of!(Subscriber, pending) + 32,
        ] {
            assert!(end <= 64, "a hot field ends at byte {end}");
        }
        // A slot was 520 bytes with the filter inline.
        assert!(
            size_of::<Subscriber>() <= 192,
            "{}",
            size_of::<Subscriber>()
        );
        assert_eq!(size_of::<Option<Subscriber>>(), size_of::<Subscriber>());
    }
}
