//! A producer that ingests events in a tight loop (as the NATS bridge or a client
//! posting events can) is held back like every other producer while a lossless
//! subscriber is behind: the subscriber gets every event, none dropped. Before,
//! `ingest` only passed the gate and queued the event at the registry, so a loop
//! outran the gate and, past the registry's hard bound, events were dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use workbus_core::testing::client_event;
use workbus_core::{Bus, Deliver, SharedEvent, SubscribeOptions};
use workbus_events::Timestamp;

struct Slow(Arc<AtomicUsize>);

impl Actor for Slow {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Deliver> for Slow {
    type Result = ();
    fn handle(&mut self, _: Deliver, _: &mut Context<Self>) {
        // Stalls a whole second on its first event (on its own arbiter), long enough
        // for an unchecked producer to queue far more than the hard bound.
        if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn tick(i: usize) -> SharedEvent {
    client_event("acme.tick", &format!("acme.thing.{i}"), Timestamp::now())
}

#[actix_rt::test]
async fn a_tight_ingest_loop_loses_nothing_at_a_lossless_subscriber() {
    const EVENTS: usize = 100_000;
    let bus = Bus::start();
    let handled = Arc::new(AtomicUsize::new(0));
    let arbiter = Arbiter::new();
    let slow = {
        let handled = handled.clone();
        Slow::start_in_arbiter(&arbiter.handle(), move |_| Slow(handled))
    };
    let sub = bus
        .subscribe(slow.recipient(), SubscribeOptions::new("slow").buffer(1024))
        .await
        .unwrap();
    for i in 0..EVENTS {
        bus.ingest(tick(i)).await.unwrap();
    }
    bus.flush().await.unwrap();
    let s = &sub.stats;
    assert_eq!(s.dropped_overflow(), 0, "nothing dropped");
    assert_eq!((s.offered(), s.delivered()), (EVENTS as u64, EVENTS as u64));
    for _ in 0..3000 {
        if handled.load(Ordering::Relaxed) == EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handled.load(Ordering::Relaxed), EVENTS);
    arbiter.stop();
}
