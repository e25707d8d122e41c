//! The fan-out scenario of `benches/fanout.rs` at N subscribers (8 unless given) and P pools
//! (100 unless given), for counting instructions with
//! callgrind rather than timing: instruction counts do not move with the machine's noise.
//!
//! It runs `EVENTS` events through workbus (100 pools pausing and resuming, the
//! registry, 8 counting subscribers), the raw actix baseline (`raw`: one actor forwarding
//! one shared event to 8 counting actors) or actix-broker's system broker (`broker`: the
//! same event issued to 8 counting subscribers), with the benches' own actors and drivers;
//! `raw-events` and `broker-events` carry a new status event for each publish instead, built
//! as workbus's pool actors build theirs.
//! Run it twice with different event counts and divide the difference in instructions by
//! the difference in events: setup cancels out, what is left is the cost of one event.
//!
//! ```text
//! cargo build --release --example fanout_instructions
//! for who in raw broker workbus; do for n in 10000 30000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$who.$n \
//!     target/release/examples/fanout_instructions $who $n 8 100 2>&1 | grep Collected
//! done; done
//! ```

#[path = "../benches/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use support::peers::{drive_broker, start_broker_subscribers};
use support::{drive_raw, until, Counter, Fleet, Payloads, RawCounter, RawRegistry};
use workbus::{Bus, SubscribeOptions};

const POOLS: usize = 100;

fn main() {
    let mut args = std::env::args().skip(1);
    let who = args.next().unwrap_or_default();
    let events: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let subscribers: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(8);
    System::new().block_on(async move {
        let count = Arc::new(AtomicU64::new(0));
        // `raw` and `broker` forward one shared event; `raw-events` and `broker-events`
        // build a new one for each publish, as workbus does.
        let payloads = match who.strip_suffix("-events") {
            Some(_) => Payloads::built(POOLS),
            None => Payloads::shared(),
        };
        if who.starts_with("raw") {
            let subs = (0..subscribers)
                .map(|_| RawCounter(count.clone()).start().recipient())
                .collect();
            let registry = RawRegistry(subs).start();
            let drive = drive_raw(&registry, &payloads, events);
            timed(&count, events * subscribers, drive).await;
            return;
        }
        if who.starts_with("broker") {
            start_broker_subscribers(subscribers, &count).await;
            let drive = drive_broker(&payloads, events);
            timed(&count, events * subscribers, drive).await;
            return;
        }
        // `TURN_DELIVERIES=n` tries another turn length (BusConfig::turn_deliveries).
        let mut config = workbus::BusConfig::default();
        if let Some(n) = std::env::var("TURN_DELIVERIES")
            .ok()
            .and_then(|n| n.parse().ok())
        {
            config.turn_deliveries = n;
        }
        let bus = Bus::builder().config(config).start();
        for _ in 0..subscribers {
            let counter = Counter(count.clone()).start();
            bus.subscribe(counter.recipient(), SubscribeOptions::new("count"))
                .await
                .expect("subscribe")
                .keep();
        }
        let pools: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(POOLS);
        let names = (0..pools).map(|i| format!("p{i}")).collect();
        let fleet = Fleet::create(&bus, names, 1).await;
        bus.flush().await.expect("flush");
        timed(&count, events * subscribers, fleet.drive(&bus, events)).await;
    });
}

/// Runs `drive`, waits until `count` has counted `deliveries` more, and prints how long
/// that took from the first emit to the last delivery.
async fn timed(count: &AtomicU64, deliveries: usize, drive: impl std::future::Future<Output = ()>) {
    let base = count.load(Ordering::Relaxed);
    let t = Instant::now();
    drive.await;
    until(count, base + deliveries as u64).await;
    eprintln!("events delivered in {:?}", t.elapsed());
}
