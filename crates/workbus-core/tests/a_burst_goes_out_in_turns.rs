//! The registry dispatches a burst of events in turns of at most
//! `BusConfig::turn_deliveries` deliveries and yields between two, so that a
//! subscriber on its arbiter reads the first events of a burst before the
//! whole burst is dispatched (while they are still in the CPU's cache). The
//! events still arrive in order, once each, and the counters add up. Events
//! ingested one message each (as from a NATS bridge) go out in turns too.

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use workbus_core::testing::client_event;
use workbus_core::{
    Bus, BusConfig, BusStats, CreatePool, Deliver, PoolUpdate, SubscribeOptions, SubscriptionInfo,
    Timestamp,
};

const POOLS: usize = 50;

/// Notes, for each event, its pool and how many events the registry had
/// dispatched by the time the subscriber read it.
struct Reader {
    stats: Arc<BusStats>,
    seen: Seen,
}

impl Actor for Reader {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Reader {
    type Result = ();
    fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
        let pool = event
            .resource
            .name()
            .unwrap_or_else(|| event.resource.id())
            .to_owned();
        let dispatched = self.stats.published();
        self.seen.lock().unwrap().push((pool, dispatched));
    }
}

type Seen = Arc<Mutex<Vec<(String, u64)>>>;

/// A bus whose registry makes turns of `turn_deliveries`.
fn bus_with_turns(turn_deliveries: usize) -> Bus {
    Bus::builder()
        .config(BusConfig {
            turn_deliveries,
            ..BusConfig::default()
        })
        .start()
}

/// Subscribes a [`Reader`] and answers what it sees.
async fn read(bus: &Bus) -> (Seen, SubscriptionInfo) {
    let seen = Seen::default();
    let reader = Reader {
        stats: bus.stats().clone(),
        seen: seen.clone(),
    }
    .start();
    let sub = bus
        .subscribe(reader.recipient(), SubscribeOptions::new("reader"))
        .await
        .unwrap()
        .keep();
    (seen, sub)
}

/// Waits (yielding, at most 100,000 times) until `seen` holds `n` events; answers them.
async fn until_seen(seen: &Seen, n: usize) -> Vec<(String, u64)> {
    for _ in 0..100_000 {
        if seen.lock().unwrap().len() >= n {
            break;
        }
        tokio::task::yield_now().await;
    }
    seen.lock().unwrap().clone()
}

/// Pauses `POOLS` pools in one burst and answers what the reader saw of it,
/// with the number of events dispatched before the burst.
async fn burst(turn_deliveries: usize) -> (Vec<(String, u64)>, u64, SubscriptionInfo) {
    let bus = bus_with_turns(turn_deliveries);
    let names: Vec<String> = (0..POOLS).map(|i| format!("p{i:02}")).collect();
    for name in &names {
        bus.create_pool(CreatePool::new(name.clone(), "process"))
            .await
            .unwrap();
    }
    let (seen, sub) = read(&bus).await;
    bus.flush().await.unwrap();
    let before = bus.stats().published();
    // No await in between: every pool gets its pause before any of them runs,
    // so their events reach the registry as one burst.
    for name in &names {
        bus.update_pool_nowait(name, PoolUpdate::pause()).unwrap();
    }
    let seen = until_seen(&seen, POOLS).await;
    (seen, before, sub)
}

#[actix_rt::test]
async fn a_subscriber_reads_a_burst_before_all_of_it_is_dispatched() {
    let (seen, before, sub) = burst(4).await;
    let pools: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    let expected: Vec<String> = (0..POOLS).map(|i| format!("p{i:02}")).collect();
    assert_eq!(pools, expected, "every event once, in order");
    let first = seen[0].1 - before;
    assert!(
        first <= 4,
        "the first event was read after {first} of the burst's {POOLS} were dispatched"
    );
    assert_eq!(sub.stats.offered(), POOLS as u64);
    assert_eq!(sub.stats.delivered(), POOLS as u64);
    assert_eq!(sub.stats.pending(), 0);
}

/// The control: in one turn (as before turns), the whole burst is dispatched
/// before the subscriber reads any of it, so the test above tells the two apart.
#[actix_rt::test]
async fn in_one_turn_the_whole_burst_goes_out_first() {
    let (seen, before, _) = burst(usize::MAX).await;
    assert_eq!(seen.len(), POOLS);
    assert_eq!(seen[0].1 - before, POOLS as u64);
}

#[actix_rt::test]
async fn ingested_events_go_out_in_turns_too() {
    const EVENTS: usize = 50;
    let bus = bus_with_turns(4);
    let (seen, sub) = read(&bus).await;
    // Each ingest is one message to the registry; none waits for the registry to run.
    for i in 0..EVENTS {
        let event = client_event("acme.tick", &format!("acme.thing.{i:02}"), Timestamp::now());
        bus.ingest(event).await.unwrap();
    }
    bus.flush().await.unwrap();
    let seen = until_seen(&seen, EVENTS).await;
    let things: Vec<&str> = seen.iter().map(|(r, _)| r.as_str()).collect();
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("acme.thing.{i:02}")).collect();
    assert_eq!(things, expected, "every event once, in order");
    assert!(
        seen[0].1 <= 4,
        "the first event was read after {} of {EVENTS} were dispatched",
        seen[0].1
    );
    assert_eq!(sub.stats.delivered(), EVENTS as u64);
}
