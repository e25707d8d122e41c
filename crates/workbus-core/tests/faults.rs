//! Faults: subscribers that panic, are slow, or stop answering cost the registry and the
//! healthy subscribers nothing, and every event they miss is counted; under load from many
//! producers, `flush` leaves nothing emitted before it missing at any lossless subscriber.
//!
//! These run on real time: the faulty subscribers really sleep or block their threads.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use workbus_core::{
    Bus, CreatePool, Deliver, Overflow, PoolUpdate, SubscribeOptions, Subscription,
};

/// What a test subscriber does with each event.
#[derive(Clone)]
enum Behaviour {
    /// Counts it.
    Fast,
    /// Sleeps this long first, blocking its own arbiter's thread.
    Slow(Duration),
    /// Panics on the n-th event (1-based), which kills its arbiter.
    PanicOn(usize),
    /// Blocks its thread on the first event until the channel is closed or sent to.
    Stuck(Arc<Mutex<mpsc::Receiver<()>>>),
}

struct Sub {
    behaviour: Behaviour,
    capacity: usize,
    handled: Arc<AtomicUsize>,
    per_resource: Arc<Mutex<HashMap<String, usize>>>,
}

impl Actor for Sub {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.capacity);
    }
}

impl Handler<Deliver> for Sub {
    type Result = ();
    fn handle(&mut self, Deliver(e): Deliver, _: &mut Context<Self>) {
        let n = self.handled.load(Ordering::Relaxed) + 1;
        match &self.behaviour {
            Behaviour::Fast => {}
            Behaviour::Slow(d) => std::thread::sleep(*d),
            Behaviour::PanicOn(k) if *k == n => panic!("subscriber fails on purpose"),
            Behaviour::PanicOn(_) => {}
            Behaviour::Stuck(rx) => {
                if n == 1 {
                    let _ = rx.lock().unwrap().recv();
                }
            }
        }
        *self
            .per_resource
            .lock()
            .unwrap()
            .entry(e.resource.id().to_owned())
            .or_default() += 1;
        self.handled.store(n, Ordering::Relaxed);
    }
}

/// A subscriber under test: what it handled, and the registry's counters for it.
struct Probe {
    name: String,
    handled: Arc<AtomicUsize>,
    per_resource: Arc<Mutex<HashMap<String, usize>>>,
    sub: Subscription,
    arbiter: Option<Arbiter>,
}

impl Probe {
    fn handled(&self) -> usize {
        self.handled.load(Ordering::Relaxed)
    }

    /// `offered = delivered + dropped_overflow + dropped_closed + pending`, per subscriber.
    fn assert_accounted(&self) {
        let s = &self.sub.stats;
        assert_eq!(
            s.offered(),
            s.delivered() + s.dropped_overflow() + s.dropped_closed() + s.pending() as u64,
            "{}: offered {} = delivered {} + overflow {} + closed {} + pending {}",
            self.name,
            s.offered(),
            s.delivered(),
            s.dropped_overflow(),
            s.dropped_closed(),
            s.pending()
        );
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(a) = self.arbiter.take() {
            a.stop();
        }
    }
}

/// Subscribes a test subscriber; `own_arbiter` starts it on a thread of its own.
async fn probe(
    bus: &Bus,
    name: &str,
    behaviour: Behaviour,
    capacity: usize,
    own_arbiter: bool,
    buffer: usize,
    overflow: Overflow,
) -> Probe {
    let handled = Arc::new(AtomicUsize::new(0));
    let per_resource = Arc::new(Mutex::new(HashMap::new()));
    let actor = Sub {
        behaviour,
        capacity,
        handled: handled.clone(),
        per_resource: per_resource.clone(),
    };
    let (addr, arbiter) = if own_arbiter {
        let arbiter = Arbiter::new();
        let addr = Sub::start_in_arbiter(&arbiter.handle(), move |_| actor);
        (addr, Some(arbiter))
    } else {
        (actor.start(), None)
    };
    let sub = bus
        .subscribe(
            addr.recipient(),
            SubscribeOptions::new(name)
                .buffer(buffer)
                .overflow(overflow),
        )
        .await
        .unwrap();
    Probe {
        name: name.to_owned(),
        handled,
        per_resource,
        sub,
        arbiter,
    }
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "{what}: not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

/// Emits `3 * pools + 2 * pools * rounds` events: creation, then pause and resume.
async fn workload(bus: &Bus, pools: usize, rounds: usize) -> usize {
    for i in 0..pools {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
    }
    for _ in 0..rounds {
        for i in 0..pools {
            let p = format!("p{i}");
            bus.update_pool(&p, PoolUpdate::pause()).await.unwrap();
            bus.update_pool(&p, PoolUpdate::resume()).await.unwrap();
        }
    }
    3 * pools + 2 * pools * rounds
}

#[actix::test]
async fn panicking_slow_and_stuck_subscribers_slow_nobody_and_are_counted() {
    let bus = Bus::start();
    let (release, stuck_rx) = mpsc::channel::<()>();
    let stuck_rx = Arc::new(Mutex::new(stuck_rx));
    let lossless = Overflow::Block;
    let big = 65_536;
    let healthy_here = probe(
        &bus,
        "healthy-here",
        Behaviour::Fast,
        1 << 16,
        false,
        big,
        lossless,
    )
    .await;
    let healthy_own = probe(
        &bus,
        "healthy-own",
        Behaviour::Fast,
        64,
        true,
        big,
        lossless,
    )
    .await;
    let panics = probe(
        &bus,
        "panics",
        Behaviour::PanicOn(5),
        16,
        true,
        big,
        lossless,
    )
    .await;
    let slow = probe(
        &bus,
        "slow",
        Behaviour::Slow(Duration::from_millis(5)),
        16,
        true,
        64,
        Overflow::DropNewest,
    )
    .await;
    let stuck = probe(
        &bus,
        "stuck",
        Behaviour::Stuck(stuck_rx),
        4,
        true,
        8,
        Overflow::DropNewest,
    )
    .await;

    let start = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(20), workload(&bus, 1_000, 2))
        .await
        .expect("producers never wait for a DropNewest subscriber, stuck or not");
    let produced = start.elapsed();
    // The healthy ones get every event while the stuck one is still stuck.
    let limit = Duration::from_secs(20);
    wait_until("healthy subscribers have everything", limit, || {
        healthy_here.handled() == n && healthy_own.handled() == n
    })
    .await;
    let all_in = start.elapsed();
    assert_eq!(bus.stats().published(), n as u64);
    assert_eq!(
        stuck.handled(),
        0,
        "the stuck subscriber is still inside its first event"
    );
    assert!(
        slow.handled() < n / 10,
        "the slow one is far behind: {} of {n}",
        slow.handled()
    );
    eprintln!(
        "{n} events: produced in {produced:?}, all at the healthy subscribers after {all_in:?}; \
         slow handled {}, stuck {}",
        slow.handled(),
        stuck.handled()
    );
    // Now let the stuck one go; the bus drains, and every event is accounted for.
    drop(release);
    tokio::time::timeout(Duration::from_secs(20), bus.flush())
        .await
        .expect("flush answers once the faulty ones are drained or gone")
        .unwrap();
    for p in [&healthy_here, &healthy_own] {
        let s = &p.sub.stats;
        assert_eq!(
            (s.offered(), s.delivered()),
            (n as u64, n as u64),
            "{}",
            p.name
        );
        p.assert_accounted();
    }
    let s = &panics.sub.stats;
    assert_eq!(panics.handled(), 4, "it handled four and died on the fifth");
    assert!(s.dropped_closed() > 0, "its loss is counted");
    assert_eq!(s.pending(), 0);
    panics.assert_accounted();
    for p in [&slow, &stuck] {
        let s = &p.sub.stats;
        assert_eq!(s.offered(), n as u64, "{}", p.name);
        assert!(
            s.dropped_overflow() > 0,
            "{} overflowed and it is counted",
            p.name
        );
        assert_eq!(s.pending(), 0, "{}", p.name);
        p.assert_accounted();
        wait_until("what was delivered is handled", limit, || {
            p.handled() as u64 == s.delivered()
        })
        .await;
    }
    assert_eq!(
        bus.stats().subscribers(),
        4,
        "only the dead one was removed"
    );
}

#[test]
fn flush_under_load_from_many_producers_loses_nothing_at_lossless_subscribers() {
    let sys = actix::System::new();
    sys.block_on(async {
        let bus = Bus::start();
        let big = 65_536;
        let fast = probe(
            &bus,
            "fast",
            Behaviour::Fast,
            1 << 16,
            false,
            big,
            Overflow::Block,
        )
        .await;
        // Slow, with a buffer small enough that producers really wait for it.
        let slow = probe(
            &bus,
            "slow",
            Behaviour::Slow(Duration::from_micros(50)),
            8,
            true,
            32,
            Overflow::Block,
        )
        .await;
        let (threads, pools_each, rounds) = (8, 5, 40);
        let producers: Vec<_> = (0..threads)
            .map(|t| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        for i in 0..pools_each {
                            let p = format!("t{t}-p{i}");
                            bus.create_pool(CreatePool::new(&p, "process"))
                                .await
                                .unwrap();
                        }
                        for r in 0..rounds {
                            for i in 0..pools_each {
                                let p = format!("t{t}-p{i}");
                                let w = format!("w{r}");
                                bus.heartbeat(&p, &w).await.unwrap();
                                bus.update_pool(&p, PoolUpdate::pause()).await.unwrap();
                                bus.update_pool(&p, PoolUpdate::resume()).await.unwrap();
                                bus.delete_worker(&p, &w).await.unwrap();
                            }
                        }
                    })
                })
            })
            .collect();
        while producers.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for t in producers {
            t.join().unwrap();
        }
        bus.flush().await.unwrap();
        let per_pool = 3 + rounds * 4;
        let n = threads * pools_each * per_pool;
        assert_eq!(bus.stats().published(), n as u64);
        for p in [&fast, &slow] {
            let s = &p.sub.stats;
            assert_eq!(
                s.pending(),
                0,
                "{}: flush leaves nothing in the registry",
                p.name
            );
            assert_eq!(
                (s.offered(), s.delivered()),
                (n as u64, n as u64),
                "{}",
                p.name
            );
            assert_eq!(s.dropped_overflow() + s.dropped_closed(), 0, "{}", p.name);
            wait_until("mailboxes are drained", Duration::from_secs(20), || {
                p.handled() == n
            })
            .await;
            // Per pool: its default queue's created, and every one of the pool's events.
            let counts = p.per_resource.lock().unwrap();
            let pool_events = counts
                .iter()
                .filter(|(k, _)| k.starts_with("prefect.work-pool."))
                .map(|(_, v)| *v);
            assert!(pool_events.clone().all(|v| v == per_pool - 1), "{}", p.name);
            assert_eq!(pool_events.count(), threads * pools_each);
        }
    });
}

/// Regression: a `DropNewest` subscriber whose buffer filled closed the bus's gate like a
/// `Block` one, so one that stopped answering stalled every producer for good.
#[actix::test]
async fn a_stuck_drop_newest_subscriber_never_holds_producers_back() {
    let bus = Bus::start();
    let (release, rx) = mpsc::channel::<()>();
    let stuck = probe(
        &bus,
        "stuck",
        Behaviour::Stuck(Arc::new(Mutex::new(rx))),
        1,
        true,
        2,
        Overflow::DropNewest,
    )
    .await;
    let n = tokio::time::timeout(Duration::from_secs(10), workload(&bus, 50, 1))
        .await
        .expect("operations pass while the stuck subscriber drops");
    let s = &stuck.sub.stats;
    assert_eq!(s.offered(), n as u64);
    // What it holds is bounded by its mailbox (actix's default 16 until its own thread
    // has run `started`) and its buffer; the rest is dropped and counted.
    let held = s.delivered() + s.pending() as u64;
    assert!(held <= 16 + 2 + 2, "it holds {held}");
    assert!(s.dropped_overflow() + held >= n as u64);
    drop(release);
    tokio::time::timeout(Duration::from_secs(10), bus.flush())
        .await
        .unwrap()
        .unwrap();
    stuck.assert_accounted();
}
