//! Fan-out: events emitted by pool actors, through the registry, to N counting subscribers,
//! against raw actix forwarding an `Arc` to the same N subscribers. Throughput is in
//! deliveries (events × subscribers) per second.

mod support;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::*;
use workbus::{Bus, CreatePool, SubscribeOptions};

const EVENTS: u64 = 20_000;
const POOLS: usize = 100;

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in [1usize, 8, 64] {
        group.throughput(Throughput::Elements(EVENTS * n as u64));
        group.bench_with_input(BenchmarkId::new("workbus", n), &n, |b, &n| {
            let sys = System::new();
            let (bus, count, pools) = sys.block_on(async move {
                let bus = Bus::start();
                let count = Arc::new(AtomicU64::new(0));
                for _ in 0..n {
                    let addr = Counter(count.clone()).start();
                    bus.subscribe(addr.recipient(), SubscribeOptions::new("count"))
                        .await
                        .unwrap()
                        .keep();
                }
                let mut pools = Vec::new();
                for i in 0..POOLS {
                    bus.create_pool(CreatePool::new(format!("p{i}"), "process"))
                        .await
                        .unwrap();
                    pools.push(format!("p{i}"));
                }
                bus.flush().await.unwrap();
                (bus, count, pools)
            });
            b.iter_custom(|iters| {
                sys.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start_count = count.load(std::sync::atomic::Ordering::Relaxed);
                        let t = Instant::now();
                        // Each pause or resume is one status event, emitted by the pool's actor.
                        drive_pools(&bus, &pools, EVENTS as usize).await;
                        until(&count, start_count + EVENTS * n as u64).await;
                        total += t.elapsed();
                    }
                    let _ = &bus;
                    total
                })
            });
        });
        group.bench_with_input(BenchmarkId::new("raw_actix", n), &n, |b, &n| {
            let sys = System::new();
            let (registry, count) = sys.block_on(async move {
                let count = Arc::new(AtomicU64::new(0));
                let subs = (0..n)
                    .map(|_| RawCounter(count.clone()).start().recipient())
                    .collect();
                (RawRegistry(subs).start(), count)
            });
            b.iter_custom(|iters| {
                sys.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start_count = count.load(std::sync::atomic::Ordering::Relaxed);
                        let t = Instant::now();
                        drive_raw(&registry, EVENTS as usize).await;
                        until(&count, start_count + EVENTS * n as u64).await;
                        total += t.elapsed();
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
