//! What the benches share: counting subscribers, the raw-actix baseline registry, the
//! fan-out drivers, the peers (actix-broker, kameo), the paired fan-out measurement, and RSS. `examples/fanout_instructions.rs` includes it too.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use workbus::events::prefect::{self, PoolLabels, Status};
use workbus::events::{Event, Timestamp};
use workbus::Deliver;

pub mod http;
pub mod paired;
pub mod peers;

/// A subscriber that only counts.
pub struct Counter(pub Arc<AtomicU64>);

impl Actor for Counter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Deliver> for Counter {
    type Result = ();
    fn handle(&mut self, _: Deliver, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The baselines' message: an event behind an `Arc`, as the bus hands subscribers one.
#[derive(Clone, Message)]
#[rtype(result = "()")]
pub struct Raw(pub Arc<Event>);

/// What a baseline publishes.
#[derive(Clone)]
pub enum Payloads {
    /// One event, built once and published again and again: the transport alone.
    Shared(Arc<Event>),
    /// A new status event for each publish, built as workbus's pool actors build theirs (a
    /// clock reading, a UUID v7, the pool's labels), alternating paused and not-ready over
    /// the pools: the same events as workbus's, as a user of a peer would have to make.
    Built(Arc<[PoolLabels]>),
}

impl Payloads {
    /// The transport alone: one event, shared.
    pub fn shared() -> Self {
        Payloads::Shared(status_event(&labels(1), 0))
    }

    /// The same events as workbus's, over `pools` pools.
    pub fn built(pools: usize) -> Self {
        Payloads::Built(labels(pools))
    }

    /// The `k`-th message.
    pub fn message(&self, k: usize) -> Raw {
        match self {
            Payloads::Shared(event) => Raw(event.clone()),
            Payloads::Built(pools) => Raw(status_event(pools, k)),
        }
    }
}

/// The `k`-th status event over `pools`: paused on the first round, not-ready on the next.
fn status_event(pools: &[PoolLabels], k: usize) -> Arc<Event> {
    let status = if (k / pools.len()).is_multiple_of(2) {
        Status::Paused
    } else {
        Status::NotReady
    };
    let now = Timestamp::now();
    let id = prefect::event_id(now);
    Arc::new(prefect::pool_status(
        &pools[k % pools.len()],
        status,
        now,
        id,
        None,
    ))
}

fn labels(pools: usize) -> Arc<[PoolLabels]> {
    (0..pools)
        .map(|i| PoolLabels::new(uuid::Uuid::new_v4(), &format!("p{i}"), "process"))
        .collect()
}

/// The baseline's subscriber.
pub struct RawCounter(pub Arc<AtomicU64>);

impl Actor for RawCounter {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Raw> for RawCounter {
    type Result = ();
    fn handle(&mut self, _: Raw, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The baseline registry: raw actix, forwarding each message to every subscriber with `do_send`.
pub struct RawRegistry(pub Vec<Recipient<Raw>>);

impl Actor for RawRegistry {
    type Context = Context<Self>;
}

impl Handler<Raw> for RawRegistry {
    type Result = ();
    fn handle(&mut self, msg: Raw, _: &mut Context<Self>) {
        for r in &self.0 {
            r.do_send(msg.clone());
        }
    }
}

/// A bus with `n` subscribers adding to `count`, and `pools` pools (`p0`, `p1`, …) to drive.
pub async fn start_workbus(
    n: usize,
    pools: usize,
    count: &Arc<AtomicU64>,
) -> (workbus::Bus, Fleet) {
    let bus = workbus::Bus::start();
    for _ in 0..n {
        let addr = Counter(count.clone()).start();
        bus.subscribe(addr.recipient(), workbus::SubscribeOptions::new("count"))
            .await
            .expect("subscribe")
            .keep();
    }
    let names = (0..pools).map(|i| format!("p{i}")).collect();
    let fleet = Fleet::create(&bus, names, 1).await;
    bus.flush().await.expect("flush");
    (bus, fleet)
}

/// Yields until `counter` reaches `target`.
pub async fn until(counter: &AtomicU64, target: u64) {
    while counter.load(Ordering::Relaxed) < target {
        tokio::task::yield_now().await;
    }
}

/// Gives glibc's allocator back a heap with nothing left over from what ran before: its
/// free lists consolidated and the free memory returned (`malloc_trim`). Contenders in one
/// process share the heap, and the peers' bursts (actix-broker at 512 subscribers frees
/// about 260,000 small blocks a burst) leave it fragmented for whoever runs next (the
/// figures: `docs/performance.md`, section 1, eighth session). Does nothing off glibc.
pub fn fresh_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only reorganises glibc's own free memory; no block in use moves.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resident memory of this process, in bytes, from /proc/self/status.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The fan-out scenario's producer: pools driven by status events. Each event flips the
/// next pool in a stride between paused and not, so every event is a status change,
/// whatever the number of events and wherever the last call stopped. It goes through the
/// bus's gate like every producer: when a lossless subscriber is full or the registry is
/// behind it waits, then goes on.
pub struct Fleet {
    names: Vec<String>,
    paused: Vec<std::cell::Cell<bool>>,
    next: std::cell::Cell<usize>,
    stride: usize,
}

impl Fleet {
    /// The pools named `names`, none paused, taken in steps of `stride` (coprime with
    /// their number, so that every pool is visited before any twice; 1 takes them in turn).
    pub fn new(names: Vec<String>, stride: usize) -> Self {
        Fleet {
            paused: names.iter().map(|_| Default::default()).collect(),
            names,
            next: Default::default(),
            stride,
        }
    }

    /// Creates the pools named `names` on `bus`, one after the other (type `process`).
    pub async fn create(bus: &workbus::Bus, names: Vec<String>, stride: usize) -> Self {
        for name in &names {
            bus.create_pool(workbus::CreatePool::new(name.clone(), "process"))
                .await
                .expect("create a pool");
        }
        Fleet::new(names, stride)
    }

    /// Emits `events` status events, yielding every 256 so the actors run.
    pub async fn drive(&self, bus: &workbus::Bus, events: usize) {
        use workbus::PoolUpdate;
        for k in 0..events {
            let i = self.next.get();
            self.next.set((i + self.stride) % self.names.len());
            let paused = !self.paused[i].get();
            self.paused[i].set(paused);
            // Made afresh for each try, as a caller writes it: cloning one kept for
            // a retry cost a 288-byte copy and its drop, 72 of an event's 2,572
            // instructions at N = 1 (callgrind).
            let update = || {
                if paused {
                    PoolUpdate::pause()
                } else {
                    PoolUpdate::resume()
                }
            };
            while let Err(workbus::Error::Busy) = bus.update_pool_nowait(&self.names[i], update()) {
                bus.ready().await;
            }
            if k % 256 == 255 {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Sends `events` messages of `payloads` through the raw baseline registry, yielding every 256.
pub async fn drive_raw(registry: &Addr<RawRegistry>, payloads: &Payloads, events: usize) {
    for k in 0..events {
        registry.do_send(payloads.message(k));
        if k % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
}
