//! Fan-out: events emitted by pool actors, through the registry, to N counting subscribers,
//! against, in the same run, raw actix forwarding an `Arc` to the same N subscribers, and the
//! peers an actix user would pick instead: actix-broker's system broker and kameo's `PubSub`
//! actor, each to N counting subscribers of its own. Each baseline runs twice: forwarding one
//! shared event (`raw_actix`, `actix_broker`, `kameo_pubsub`: the transport alone), and
//! carrying the same events as workbus, a Prefect status event built for each publish
//! (`…_events`). Throughput is in deliveries (events × subscribers) per second.

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::peers::{drive_broker, kameo_peer, start_broker_subscribers};
use support::*;
use workbus::{Bus, SubscribeOptions};

const POOLS: usize = 100;

/// Events per sample: 10,000, or fewer at large N so that a sample is about 1 M deliveries.
fn events_for(n: usize) -> usize {
    (1_000_000 / n).min(10_000)
}

/// Runs `drive` once per iteration and times it until `count` has grown by `per_iter`.
fn timed<F, Fut>(
    sys: &SystemRunner,
    count: &AtomicU64,
    per_iter: u64,
    iters: u64,
    drive: F,
) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    sys.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start_count = count.load(Ordering::Relaxed);
            let t = Instant::now();
            drive().await;
            until(count, start_count + per_iter).await;
            total += t.elapsed();
        }
        total
    })
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for n in [1usize, 8, 64, 512] {
        let events = events_for(n);
        let deliveries = (events * n) as u64;
        group.throughput(Throughput::Elements(deliveries));
        group.bench_with_input(BenchmarkId::new("workbus", n), &n, |b, &n| {
            let sys = System::new();
            let (bus, count, fleet) = sys.block_on(async move {
                let bus = Bus::start();
                let count = Arc::new(AtomicU64::new(0));
                for _ in 0..n {
                    let addr = Counter(count.clone()).start();
                    bus.subscribe(addr.recipient(), SubscribeOptions::new("count"))
                        .await
                        .unwrap()
                        .keep();
                }
                let names = (0..POOLS).map(|i| format!("p{i}")).collect();
                let fleet = Fleet::create(&bus, names, 1).await;
                bus.flush().await.unwrap();
                (bus, count, fleet)
            });
            // Each pause or resume is one status event, emitted by the pool's actor.
            b.iter_custom(|iters| {
                timed(&sys, &count, deliveries, iters, || {
                    fleet.drive(&bus, events)
                })
            });
        });
        // Each peer twice: forwarding one shared event (the transport alone), and carrying
        // the same events as workbus, a new one built for each publish ("_events").
        for (suffix, payloads) in [
            ("", Payloads::shared()),
            ("_events", Payloads::built(POOLS)),
        ] {
            let id = |peer: &str| BenchmarkId::new(format!("{peer}{suffix}"), n);
            group.bench_with_input(id("raw_actix"), &n, |b, &n| {
                let sys = System::new();
                let (registry, count) = sys.block_on(async move {
                    let count = Arc::new(AtomicU64::new(0));
                    let subs = (0..n)
                        .map(|_| RawCounter(count.clone()).start().recipient())
                        .collect();
                    (RawRegistry(subs).start(), count)
                });
                b.iter_custom(|iters| {
                    timed(&sys, &count, deliveries, iters, || {
                        drive_raw(&registry, &payloads, events)
                    })
                });
            });
            group.bench_with_input(id("actix_broker"), &n, |b, &n| {
                let sys = System::new();
                let count = Arc::new(AtomicU64::new(0));
                sys.block_on(start_broker_subscribers(n, &count));
                b.iter_custom(|iters| {
                    timed(&sys, &count, deliveries, iters, || {
                        drive_broker(&payloads, events)
                    })
                });
            });
            group.bench_with_input(id("kameo_pubsub"), &n, |b, &n| {
                let sys = System::new();
                let count = Arc::new(AtomicU64::new(0));
                let pubsub = sys.block_on(kameo_peer::start(n, &count));
                b.iter_custom(|iters| {
                    timed(&sys, &count, deliveries, iters, || {
                        kameo_peer::drive(&pubsub, &payloads, events)
                    })
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = fanout
}
criterion_main!(benches);
