//! The event history and the websocket fan-out: one subscriber actor of the server's.
//!
//! The [`History`] actor subscribes to the bus, keeps the last N events in a
//! ring, answers queries over them, and feeds every attached websocket
//! client. Doing both in one actor makes "backfill, then live" exact: a
//! client is attached and handed its backfill in one message, so it misses
//! no event and sees none twice. Each event's websocket frame is built once
//! here, from the event's shared JSON bytes, and every client gets a clone
//! of the same buffer.
//!
//! ## Bounds
//!
//! The ring keeps at most `event_history` events and at most
//! `event_history_bytes` of them, as [`History::new`] estimates an event's
//! cost; whichever bound is reached first evicts the oldest events, and
//! [`StreamStats::history_evicted`] counts them. An event too large for the
//! byte bound on its own is delivered live and never kept.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use bytestring::ByteString;
use tokio::sync::mpsc;
use workbus_core::{Deliver, EventFilter, SharedEvent, Timestamp};
use workbus_events::filter::Order;

/// Counters of the server's event streams, readable at any time (for metrics).
#[derive(Debug, Default)]
pub struct StreamStats {
    clients: AtomicUsize,
    cut_off: AtomicU64,
    frames: AtomicU64,
    history_len: AtomicUsize,
    history_bytes: AtomicUsize,
    history_evicted: AtomicU64,
    connections: AtomicUsize,
    refused: AtomicU64,
    handshakes: AtomicUsize,
    handshakes_refused: AtomicU64,
    queued_bytes: AtomicUsize,
}

/// The bytes of live frames queued for one websocket client and not yet handed
/// to its connection. Every change is mirrored in the total of all clients
/// ([`StreamStats::queued_bytes`]); when the last holder (the history's entry
/// for the client, the client's task, its writer) lets go, what is left is
/// taken off the total, so the total stays exact however a client ends.
#[derive(Debug)]
pub struct Backlog {
    bytes: AtomicUsize,
    stats: Arc<StreamStats>,
}

impl Backlog {
    /// An empty backlog counted in `stats`.
    pub fn new(stats: Arc<StreamStats>) -> Self {
        Backlog {
            bytes: AtomicUsize::new(0),
            stats,
        }
    }

    /// Bytes queued for this client now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Counts `n` more bytes queued.
    pub fn add(&self, n: usize) {
        // Counts only: each is an exact sum on its own, and orders nothing else.
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.stats.queued_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` bytes handed to the connection.
    pub fn sub(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::Relaxed);
        self.stats.queued_bytes.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Drop for Backlog {
    fn drop(&mut self) {
        let left = *self.bytes.get_mut();
        self.stats.queued_bytes.fetch_sub(left, Ordering::Relaxed);
    }
}

/// A websocket connection's place under a limit (its handshake's, then a
/// client's); freed when dropped.
#[derive(Debug)]
pub struct Slot {
    stats: Arc<StreamStats>,
    handshake: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Counts only: AcqRel keeps each taker's check-and-add exact, nothing else is ordered.
        if self.handshake {
            self.stats.handshakes.fetch_sub(1, Ordering::AcqRel);
        } else {
            self.stats.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Slot {
    /// Whether this is a handshake's place, not yet a client's.
    pub fn is_handshake(&self) -> bool {
        self.handshake
    }
}

/// Takes a place under `max` in `count`, unless `max` are taken.
fn take(count: &AtomicUsize, max: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

impl StreamStats {
    /// Websocket clients streaming events now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
    /// Websocket clients cut off because they read too slowly.
    pub fn cut_off(&self) -> u64 {
        self.cut_off.load(Ordering::Relaxed)
    }
    /// Counts a client cut off for being slow.
    pub(crate) fn count_cut_off(&self) {
        self.cut_off.fetch_add(1, Ordering::Relaxed);
    }
    /// Event frames queued to websocket clients, backfill included.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
    /// Events held in the history now.
    pub fn history_len(&self) -> usize {
        self.history_len.load(Ordering::Relaxed)
    }
    /// Bytes the history holds now, as [`History`] estimates them.
    pub fn history_bytes(&self) -> usize {
        self.history_bytes.load(Ordering::Relaxed)
    }
    /// Events dropped from the history to keep it within its count or its bytes.
    pub fn history_evicted(&self) -> u64 {
        self.history_evicted.load(Ordering::Relaxed)
    }
    /// Websocket connections past their handshake, on both event routes.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
    /// Websocket connections refused because `max` clients were connected.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
    /// Bytes of live event frames queued for websocket clients, all together.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }
    /// Websocket connections still in their handshake (not yet authenticated, or no filter yet).
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Relaxed)
    }
    /// Websocket upgrades refused because `max` connections were in their handshake.
    pub fn handshakes_refused(&self) -> u64 {
        self.handshakes_refused.load(Ordering::Relaxed)
    }
    /// Counts a connection refused at the client limit before it took any place.
    pub(crate) fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
    /// Takes a place for one more connected websocket client, unless `max` are
    /// connected (then counts the refusal and answers `None`).
    pub fn try_connect(self: &Arc<Self>, max: usize) -> Option<Slot> {
        if take(&self.connections, max) {
            return Some(Slot {
                stats: self.clone(),
                handshake: false,
            });
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        None
    }
    /// Takes a place for one more websocket handshake, unless `max` are under
    /// way (then counts the refusal and answers `None`).
    pub fn try_handshake(self: &Arc<Self>, max: usize) -> Option<Slot> {
        if take(&self.handshakes, max) {
            return Some(Slot {
                stats: self.clone(),
                handshake: true,
            });
        }
        self.handshakes_refused.fetch_add(1, Ordering::Relaxed);
        None
    }
}

struct Entry {
    seq: u64,
    event: SharedEvent,
    frame: ByteString,
    cost: usize,
}

/// What an event is taken to cost in the history: its JSON three times (the
/// shared bytes, the websocket frame around them, and the parsed event, whose
/// strings and payload take about as much), and 512 bytes for the structures
/// around them.
fn cost(event: &SharedEvent) -> usize {
    3 * event.json().len() + 512
}

struct Client {
    id: u64,
    filter: EventFilter,
    tx: mpsc::Sender<ByteString>,
    slow: Arc<AtomicBool>,
    backlog: Arc<Backlog>,
    max_bytes: usize,
    all_max_bytes: usize,
}

/// The history-and-fan-out actor.
pub struct History {
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    ring: VecDeque<Entry>,
    next_seq: u64,
    clients: Vec<Client>,
    next_client: u64,
    stats: Arc<StreamStats>,
}

impl History {
    /// A history keeping the last `capacity` events, and no more than `max_bytes`
    /// of them (as estimated: three times each event's JSON, plus 512 bytes).
    pub fn new(capacity: usize, max_bytes: usize, stats: Arc<StreamStats>) -> Self {
        History {
            capacity,
            max_bytes,
            bytes: 0,
            ring: VecDeque::with_capacity(capacity.min(65_536)),
            next_seq: 1,
            clients: Vec::new(),
            next_client: 1,
            stats,
        }
    }
}

impl Actor for History {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The registry buffers for us while the mailbox is full; a roomier mailbox
        // saves it that work during bursts.
        ctx.set_mailbox_capacity(4096);
    }
}

/// Builds `{"type":"event","event":<json>}` around the event's shared JSON bytes.
fn frame(event: &SharedEvent) -> Option<ByteString> {
    const HEAD: &[u8] = br#"{"type":"event","event":"#;
    let json = event.json();
    let mut buf = Vec::with_capacity(HEAD.len() + json.len() + 1);
    buf.extend_from_slice(HEAD);
    buf.extend_from_slice(json);
    buf.push(b'}');
    String::from_utf8(buf).ok().map(ByteString::from)
}

impl Handler<Deliver> for History {
    type Result = ();

    fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
        let Some(frame) = frame(&event) else {
            tracing::warn!(id = %event.id, "event JSON is not UTF-8; not kept");
            return;
        };
        let stats = &self.stats;
        self.clients.retain(|c| {
            if !c.filter.matches(&event) {
                return true;
            }
            let len = frame.len();
            let over = c.backlog.bytes() + len > c.max_bytes
                || stats.queued_bytes() + len > c.all_max_bytes;
            let sent = if over {
                Err(mpsc::error::TrySendError::Full(()))
            } else {
                // Counted before it is sent, so the writer never takes off what was not added.
                c.backlog.add(len);
                let sent = c.tx.try_send(frame.clone()).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => mpsc::error::TrySendError::Full(()),
                    mpsc::error::TrySendError::Closed(_) => mpsc::error::TrySendError::Closed(()),
                });
                if sent.is_err() {
                    c.backlog.sub(len);
                }
                sent
            };
            match sent {
                Ok(()) => {
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(())) => {
                    // Dropping the sender ends the client's stream; the flag tells it why.
                    if !c.slow.swap(true, Ordering::AcqRel) {
                        stats.cut_off.fetch_add(1, Ordering::Relaxed);
                    }
                    stats.clients.fetch_sub(1, Ordering::Relaxed);
                    tracing::warn!(client = c.id, "websocket client too slow; cutting it off");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    stats.clients.fetch_sub(1, Ordering::Relaxed);
                    false
                }
            }
        });
        self.keep(event, frame);
    }
}

impl History {
    /// Fills the history with events of before (a store's, at start), oldest first,
    /// under the same bounds as live ones.
    pub fn preload(&mut self, events: impl IntoIterator<Item = SharedEvent>) {
        for event in events {
            if let Some(frame) = frame(&event) {
                self.keep(event, frame);
            }
        }
    }

    /// Keeps an event in the ring, evicting the oldest past the bounds.
    fn keep(&mut self, event: SharedEvent, frame: ByteString) {
        let cost = cost(&event);
        if self.capacity == 0 || cost > self.max_bytes {
            // Too big to keep at all: still delivered live, never held.
            self.stats.history_evicted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut evicted = 0;
        while self.ring.len() >= self.capacity || self.bytes + cost > self.max_bytes {
            let Some(old) = self.ring.pop_front() else {
                break;
            };
            self.bytes -= old.cost;
            evicted += 1;
        }
        if evicted > 0 {
            self.stats
                .history_evicted
                .fetch_add(evicted, Ordering::Relaxed);
            // Give back the ring's room after a burst of many small events.
            if self.ring.capacity() > 2 * self.ring.len().max(1024) {
                self.ring.shrink_to(self.ring.len().max(1024));
            }
        }
        self.bytes += cost;
        self.ring.push_back(Entry {
            seq: self.next_seq,
            event,
            frame,
            cost,
        });
        self.next_seq += 1;
        self.stats
            .history_len
            .store(self.ring.len(), Ordering::Relaxed);
        self.stats
            .history_bytes
            .store(self.bytes, Ordering::Relaxed);
    }
}

/// Where a page of a query starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// Only events at or below this sequence number (the newest when the query began).
    pub max_seq: u64,
    /// Only events strictly past this sequence number in the query's order (0: from the start).
    pub after_seq: u64,
}

/// A query over the history.
pub struct Query {
    /// Which events.
    pub filter: EventFilter,
    /// At most this many.
    pub limit: usize,
    /// Where to continue, or `None` for a first page.
    pub cursor: Option<Cursor>,
}

/// A page of events.
pub struct Page {
    /// The events, as their shared JSON.
    pub events: Vec<SharedEvent>,
    /// How many events matched on the first page (later pages repeat it, as Prefect does).
    pub total: usize,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

impl Message for Query {
    type Result = Page;
}

impl Handler<Query> for History {
    type Result = MessageResult<Query>;

    fn handle(&mut self, q: Query, _: &mut Context<Self>) -> MessageResult<Query> {
        let max_seq = q
            .cursor
            .map_or(self.next_seq.saturating_sub(1), |c| c.max_seq);
        let after = q.cursor.map_or(0, |c| c.after_seq);
        let asc = q.filter.order == Order::Asc;
        let in_range = |e: &&Entry| {
            e.seq <= max_seq
                && (after == 0 || if asc { e.seq > after } else { e.seq < after })
                && q.filter.matches(&e.event)
        };
        let mut events = Vec::with_capacity(q.limit.min(64));
        let mut last = 0;
        let mut remaining = 0usize;
        let mut take = |e: &Entry| {
            if events.len() < q.limit {
                events.push(e.event.clone());
                last = e.seq;
            } else {
                remaining += 1;
            }
        };
        if asc {
            self.ring.iter().filter(in_range).for_each(&mut take);
        } else {
            self.ring.iter().rev().filter(in_range).for_each(&mut take);
        }
        let total = events.len() + remaining;
        let next = (remaining > 0 && !events.is_empty()).then_some(Cursor {
            max_seq,
            after_seq: last,
        });
        MessageResult(Page {
            events,
            total,
            next,
        })
    }
}

/// Attaches a websocket client: its backfill, then every live event its filter matches.
pub struct Attach {
    /// Which events.
    pub filter: EventFilter,
    /// Send matching history first, oldest first, from this time on (`None`: no backfill).
    pub backfill_since: Option<Timestamp>,
    /// How many live frames may wait for the client before it is cut off.
    pub buffer: usize,
    /// How many bytes of live frames may wait for the client before it is cut off.
    pub buffer_bytes: usize,
    /// How many bytes of live frames may wait for all clients together: a frame
    /// that would pass it cuts off the client it was for.
    pub all_buffer_bytes: usize,
}

/// An attached client's side.
pub struct Attached {
    /// Its id, for [`Detach`].
    pub id: u64,
    /// The backfill frames, oldest first.
    pub backfill: Vec<ByteString>,
    /// The live frames.
    pub rx: mpsc::Receiver<ByteString>,
    /// Set when the client was cut off for being slow.
    pub slow: Arc<AtomicBool>,
    /// The bytes of live frames queued for it: the writer takes off what it hands on.
    pub backlog: Arc<Backlog>,
}

impl Message for Attach {
    type Result = Attached;
}

impl Handler<Attach> for History {
    type Result = MessageResult<Attach>;

    fn handle(&mut self, a: Attach, _: &mut Context<Self>) -> MessageResult<Attach> {
        let backfill: Vec<ByteString> = match a.backfill_since {
            Some(since) => self
                .ring
                .iter()
                .filter(|e| e.event.occurred >= since && a.filter.matches(&e.event))
                .map(|e| e.frame.clone())
                .collect(),
            None => Vec::new(),
        };
        self.stats
            .frames
            .fetch_add(backfill.len() as u64, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(a.buffer.max(1));
        let slow = Arc::new(AtomicBool::new(false));
        let backlog = Arc::new(Backlog::new(self.stats.clone()));
        let id = self.next_client;
        self.next_client += 1;
        self.clients.push(Client {
            id,
            filter: a.filter,
            tx,
            slow: slow.clone(),
            backlog: backlog.clone(),
            max_bytes: a.buffer_bytes,
            all_max_bytes: a.all_buffer_bytes,
        });
        self.stats.clients.fetch_add(1, Ordering::Relaxed);
        MessageResult(Attached {
            id,
            backfill,
            rx,
            slow,
            backlog,
        })
    }
}

/// Detaches a client that has gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detach(pub u64);

impl Handler<Detach> for History {
    type Result = ();

    fn handle(&mut self, Detach(id): Detach, _: &mut Context<Self>) {
        let before = self.clients.len();
        self.clients.retain(|c| c.id != id);
        if self.clients.len() < before {
            self.stats.clients.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Detaches every client (their streams end), for shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DetachAll;

impl Handler<DetachAll> for History {
    type Result = ();

    fn handle(&mut self, _: DetachAll, _: &mut Context<Self>) {
        self.stats
            .clients
            .fetch_sub(self.clients.len(), Ordering::Relaxed);
        self.clients.clear();
    }
}
