//! Subscribers: any actix actor plugs in; each sees one resource's events in emission order;
//! a slow, full or dead subscriber costs the others nothing and every loss is counted.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use support::*;
use workbus_core::{
    Bus, BusConfig, CreatePool, Deliver, EventFilter, Overflow, PoolUpdate, SharedEvent,
    SubscribeOptions,
};

/// A user's own subscriber: counts events per name, with a mailbox it chose itself.
struct Tally {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    capacity: usize,
    delay: Duration,
    panic_on: Option<usize>,
    seen: usize,
}

impl Actor for Tally {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.capacity);
    }
}

impl Handler<Deliver> for Tally {
    type Result = ();
    fn handle(&mut self, Deliver(e): Deliver, _: &mut Context<Self>) {
        self.seen += 1;
        if self.panic_on == Some(self.seen) {
            panic!("subscriber failed on purpose");
        }
        if !self.delay.is_zero() {
            // Blocks this subscriber's own arbiter thread only.
            std::thread::sleep(self.delay);
        }
        *self
            .counts
            .lock()
            .unwrap()
            .entry(e.event.to_string())
            .or_default() += 1;
    }
}

fn tally(
    capacity: usize,
    delay: Duration,
    panic_on: Option<usize>,
) -> (Addr<Tally>, Arc<Mutex<HashMap<String, usize>>>) {
    let counts = Arc::new(Mutex::new(HashMap::new()));
    let c = counts.clone();
    let arbiter = Arbiter::new();
    let addr = Tally::start_in_arbiter(&arbiter.handle(), move |_| Tally {
        counts: c,
        capacity,
        delay,
        panic_on,
        seen: 0,
    });
    (addr, counts)
}

fn total(counts: &Arc<Mutex<HashMap<String, usize>>>) -> usize {
    counts.lock().unwrap().values().sum()
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached in 10 s");
}

#[actix::test]
async fn a_users_actor_on_its_own_arbiter_receives_every_event() {
    let bus = Bus::start();
    let (addr, counts) = tally(16, Duration::ZERO, None);
    let sub = bus
        .subscribe(addr.recipient(), SubscribeOptions::new("tally"))
        .await
        .unwrap();
    for i in 0..50 {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
        bus.heartbeat(&format!("p{i}"), "w").await.unwrap();
    }
    bus.flush().await.unwrap();
    wait_for(|| total(&counts) == 200).await;
    let c = counts.lock().unwrap().clone();
    assert_eq!(c["prefect.work-pool.ready"], 50);
    assert_eq!(c["prefect.work-queue.created"], 50);
    assert_eq!(sub.stats.offered(), 200);
    assert_eq!(sub.stats.delivered(), 200);
    assert_eq!(bus.stats().subscriptions().len(), 1);
}

#[test]
fn each_subscriber_sees_each_resource_in_order_under_concurrent_producers_from_many_threads() {
    let sys = actix::System::new();
    sys.block_on(async {
        let bus = Bus::start();
        let seen = collect(&bus, EventFilter::prefix(["prefect.work-pool."])).await;
        let pools = 40;
        for i in 0..pools {
            bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
                .await
                .unwrap();
        }
        // Eight OS threads, each on its own runtime, drive every pool through pause,
        // resume, heartbeat and worker deletion, interleaved.
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        for round in 0..25 {
                            for i in (t..pools).step_by(8) {
                                let p = format!("p{i}");
                                let w = format!("w{round}");
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
        while threads.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for t in threads {
            t.join().unwrap();
        }
        settle(&bus).await;
        // Per pool: every status event follows the one before it, so the chain proves order.
        let mut last: HashMap<String, uuid::Uuid> = HashMap::new();
        let mut status_events = 0;
        for e in seen.events() {
            if e.event == "prefect.work-pool.created" {
                continue;
            }
            status_events += 1;
            let r = e.resource.id().to_owned();
            if let Some(prev) = last.get(&r) {
                assert_eq!(e.follows, Some(*prev), "{} out of order", e.event);
            }
            last.insert(r, e.id);
        }
        // Creation not-ready, then per round: ready, paused, ready, not-ready.
        assert_eq!(status_events, pools * (1 + 25 * 4));
    });
}

#[actix::test]
async fn a_full_subscriber_with_drop_newest_loses_only_its_own_events_and_counts_them() {
    let bus = Bus::start();
    let (slow, slow_counts) = tally(2, Duration::from_millis(2), None);
    let slow_sub = bus
        .subscribe(
            slow.recipient(),
            SubscribeOptions::new("slow")
                .buffer(4)
                .overflow(Overflow::DropNewest),
        )
        .await
        .unwrap();
    let fast = collect(&bus, EventFilter::all()).await;
    for i in 0..100 {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
    }
    bus.flush().await.unwrap();
    settle(&bus).await;
    assert_eq!(fast.len(), 300, "the fast subscriber got everything");
    let s = &slow_sub.stats;
    assert_eq!(s.offered(), 300);
    assert!(s.dropped_overflow() > 0, "the slow one overflowed");
    wait_for(|| total(&slow_counts) as u64 == s.delivered()).await;
    assert_eq!(
        s.delivered() + s.dropped_overflow() + s.pending() as u64,
        s.offered()
    );
    assert_eq!(s.pending(), 0);
}

#[actix::test]
async fn a_full_subscriber_with_block_loses_nothing_and_slows_only_producers() {
    let bus = Bus::start();
    let (slow, slow_counts) = tally(2, Duration::from_millis(1), None);
    let slow_sub = bus
        .subscribe(
            slow.recipient(),
            SubscribeOptions::new("slow")
                .buffer(8)
                .overflow(Overflow::Block),
        )
        .await
        .unwrap();
    let fast = collect(&bus, EventFilter::all()).await;
    for i in 0..100 {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
    }
    bus.flush().await.unwrap();
    settle(&bus).await;
    assert_eq!(fast.len(), 300);
    wait_for(|| total(&slow_counts) == 300).await;
    let s = &slow_sub.stats;
    assert_eq!(
        (s.offered(), s.delivered(), s.dropped_overflow()),
        (300, 300, 0)
    );
}

#[actix::test]
async fn a_subscriber_that_dies_is_removed_counted_and_costs_the_others_nothing() {
    let bus = Bus::start();
    let (doomed, _) = tally(16, Duration::ZERO, Some(3));
    let doomed_sub = bus
        .subscribe(doomed.recipient(), SubscribeOptions::new("doomed"))
        .await
        .unwrap();
    let healthy = collect(&bus, EventFilter::all()).await;
    for i in 0..20 {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    settle(&bus).await;
    assert_eq!(healthy.len(), 60);
    wait_for(|| bus.stats().subscribers() == 1).await;
    let s = &doomed_sub.stats;
    assert!(s.dropped_closed() > 0);
    // It handled two, died on the third; everything else offered to it is counted.
    assert_eq!(
        s.delivered() + s.dropped_closed() + s.pending() as u64,
        s.offered()
    );
}

#[actix::test]
async fn flush_returns_when_a_subscriber_dies_holding_a_backlog() {
    let bus = Bus::start();
    // Slow on its first event, so the registry buffers the rest; then it dies on the second.
    let (doomed, _) = tally(1, Duration::from_millis(50), Some(2));
    let sub = bus
        .subscribe(doomed.recipient(), SubscribeOptions::new("doomed"))
        .await
        .unwrap();
    for i in 0..20 {
        bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
            .await
            .unwrap();
    }
    assert!(
        sub.stats.pending() > 0,
        "the registry holds a backlog for it"
    );
    tokio::time::timeout(Duration::from_secs(10), bus.flush())
        .await
        .expect("flush answers once the dead subscriber's backlog is counted")
        .unwrap();
    let s = &sub.stats;
    assert_eq!(s.offered(), 60);
    assert_eq!(s.delivered() + s.dropped_closed(), 60);
    assert_eq!(s.pending(), 0);
    assert_eq!(bus.stats().subscribers(), 0);
}

#[actix::test]
async fn every_subscriber_shares_one_event_and_one_encoding() {
    let bus = Bus::start();
    let mut grabbers = Vec::new();
    for _ in 0..8 {
        grabbers.push(collect(&bus, EventFilter::prefix(["prefect.work-pool.not-ready"])).await);
    }
    bus.create_pool(CreatePool::new("p", "process"))
        .await
        .unwrap();
    settle(&bus).await;
    // Taken out, so that only these eight handles hold the event.
    let got: Vec<SharedEvent> = grabbers.iter().flat_map(|g| g.take()).collect();
    assert_eq!(got.len(), 8);
    assert!(
        got.iter()
            .all(|e| e.json().as_ptr() == got[0].json().as_ptr()),
        "encoded once"
    );
    assert_eq!(got[0].share_count(), 8, "one allocation, shared");
}

#[actix::test]
async fn unsubscribing_stops_delivery() {
    let bus = Bus::start();
    let count = Arc::new(AtomicUsize::new(0));
    struct Count(Arc<AtomicUsize>);
    impl Actor for Count {
        type Context = Context<Self>;
    }
    impl Handler<Deliver> for Count {
        type Result = ();
        fn handle(&mut self, _: Deliver, _: &mut Context<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let sub = bus
        .subscribe(
            Count(count.clone()).start().recipient(),
            SubscribeOptions::new("c"),
        )
        .await
        .unwrap();
    bus.create_pool(CreatePool::new("a", "process"))
        .await
        .unwrap();
    settle(&bus).await;
    assert_eq!(count.load(Ordering::Relaxed), 3);
    assert!(bus.unsubscribe(sub.id).await.unwrap());
    assert!(!bus.unsubscribe(sub.id).await.unwrap());
    bus.create_pool(CreatePool::new("b", "process"))
        .await
        .unwrap();
    settle(&bus).await;
    assert_eq!(count.load(Ordering::Relaxed), 3);
    assert_eq!(bus.stats().subscribers(), 0);
    let _ = BusConfig::default();
}
