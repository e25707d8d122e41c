//! A producer on the registry's arbiter that emits in a tight loop of `_nowait`
//! calls would queue events faster than the registry's turns dispatch them. While
//! 256 events or more wait after a turn, the registry closes the gate: the loop is
//! refused with `Error::Busy`, waits with `Bus::ready`, and goes on. Every event
//! still arrives once, each pool's in the order they were emitted.

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use workbus_core::{Bus, BusConfig, CreatePool, Deliver, Error, PoolUpdate, SubscribeOptions};

const POOLS: usize = 20;
const EVENTS: usize = 4_000;

struct Reader(Arc<Mutex<Vec<String>>>);

impl Actor for Reader {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Reader {
    type Result = ();
    fn handle(&mut self, Deliver(event): Deliver, _: &mut Context<Self>) {
        let line = format!(
            "{} {}",
            event.resource.name().unwrap_or_default(),
            event.event
        );
        self.0.lock().unwrap().push(line);
    }
}

#[actix_rt::test]
async fn a_nowait_loop_is_held_back_and_loses_nothing() {
    // Turns of 8 deliveries: the registry falls behind the loop at once.
    let bus = Bus::builder()
        .config(BusConfig {
            turn_deliveries: 8,
            ..BusConfig::default()
        })
        .start();
    let names: Vec<String> = (0..POOLS).map(|i| format!("p{i:02}")).collect();
    for name in &names {
        bus.create_pool(CreatePool::new(name.clone(), "process"))
            .await
            .unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sub = bus
        .subscribe(
            Reader(seen.clone()).start().recipient(),
            SubscribeOptions::new("reader"),
        )
        .await
        .unwrap();
    bus.flush().await.unwrap();
    let before = bus.stats().published();
    let mut refused = 0;
    let mut expected = Vec::new();
    for k in 0..EVENTS {
        let name = &names[k % POOLS];
        let pause = (k / POOLS).is_multiple_of(2);
        let update = || {
            if pause {
                PoolUpdate::pause()
            } else {
                PoolUpdate::resume()
            }
        };
        loop {
            match bus.update_pool_nowait(name, update()) {
                Ok(()) => break,
                Err(Error::Busy) => {
                    refused += 1;
                    bus.ready().await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        let status = if pause { "paused" } else { "not-ready" };
        expected.push(format!("{name} prefect.work-pool.{status}"));
        if k % 256 == 255 {
            tokio::task::yield_now().await;
        }
    }
    assert!(refused > 0, "the loop was never held back");
    assert!(bus.stats().held_back() > 0, "the holding is counted");
    for _ in 0..1_000_000 {
        if seen.lock().unwrap().len() >= EVENTS {
            break;
        }
        tokio::task::yield_now().await;
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), EVENTS, "every event once");
    for name in &names {
        let of = |lines: &[String]| -> Vec<String> {
            lines
                .iter()
                .filter(|l| l.split(' ').next() == Some(name.as_str()))
                .cloned()
                .collect()
        };
        assert!(of(&seen) == of(&expected), "{name}'s events in order");
    }
    assert_eq!(sub.stats.offered(), EVENTS as u64);
    assert_eq!(sub.stats.delivered(), EVENTS as u64);
    assert_eq!(bus.stats().published() - before, EVENTS as u64);
}
