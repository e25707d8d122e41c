//! The fan-out scenario of `benches/fanout.rs` at N = 8, for counting instructions with
//! callgrind rather than timing: instruction counts do not move with the machine's noise.
//!
//! It runs `EVENTS` events either through workbus (100 pools pausing and resuming, the
//! registry, 8 counting subscribers) or through the raw actix baseline (one actor
//! forwarding an `Arc` to 8 counting actors). Run it twice with different event counts
//! and divide the difference in instructions by the difference in events: setup cancels
//! out, what is left is the cost of one event.
//!
//! ```text
//! cargo build --release --example fanout_instructions
//! for who in raw workbus; do for n in 10000 30000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$who.$n \
//!     target/release/examples/fanout_instructions $who $n 2>&1 | grep Collected
//! done; done
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use workbus::pool::UpdatePool;
use workbus::{Bus, CreatePool, Deliver, PoolUpdate, SubscribeOptions};

const SUBSCRIBERS: usize = 8;
const POOLS: usize = 100;

struct Counter(Arc<AtomicU64>);

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

/// The baseline's message: an `Arc`, as the bus hands subscribers one.
#[derive(Clone, Message)]
#[rtype(result = "()")]
struct Raw(#[allow(dead_code)] Arc<[u8; 64]>);

struct RawCounter(Arc<AtomicU64>);

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

struct RawRegistry(Vec<Recipient<Raw>>);

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

async fn until(counter: &AtomicU64, target: u64) {
    while counter.load(Ordering::Relaxed) < target {
        tokio::task::yield_now().await;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let who = args.next().unwrap_or_default();
    let events: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    System::new().block_on(async move {
        let count = Arc::new(AtomicU64::new(0));
        if who == "raw" {
            let subs = (0..SUBSCRIBERS)
                .map(|_| RawCounter(count.clone()).start().recipient())
                .collect();
            let registry = RawRegistry(subs).start();
            let payload = Arc::new([0u8; 64]);
            for k in 0..events {
                registry.do_send(Raw(payload.clone()));
                if k % 256 == 255 {
                    tokio::task::yield_now().await;
                }
            }
            until(&count, (events * SUBSCRIBERS) as u64).await;
            return;
        }
        let bus = Bus::start();
        for _ in 0..SUBSCRIBERS {
            let counter = Counter(count.clone()).start();
            bus.subscribe(counter.recipient(), SubscribeOptions::new("count"))
                .await
                .expect("subscribe");
        }
        let mut pools = Vec::new();
        for i in 0..POOLS {
            let name = format!("p{i}");
            bus.create_pool(CreatePool::new(name.clone(), "process"))
                .await
                .expect("create pool");
            pools.push(bus.pool_actor(&name).expect("pool actor"));
        }
        bus.flush().await.expect("flush");
        let base = count.load(Ordering::Relaxed);
        for k in 0..events {
            let update = if (k / POOLS) % 2 == 0 {
                PoolUpdate::pause()
            } else {
                PoolUpdate::resume()
            };
            pools[k % POOLS].do_send(UpdatePool(update));
            if k % 256 == 255 {
                tokio::task::yield_now().await;
            }
        }
        until(&count, base + (events * SUBSCRIBERS) as u64).await;
    });
}
