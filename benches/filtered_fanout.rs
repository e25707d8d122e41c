//! Filtered fan-out at scale: the cost per event when 1,000 subscribers each filter on their
//! own pool and none matches, against the cost with a single such subscriber (the baseline),
//! and against 1,000 subscribers whose filters must each be tried (no index).

mod support;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::*;
use workbus::{Bus, CreatePool, EventFilter, PoolUpdate, SubscribeOptions};

const EVENTS: u64 = 10_000;

/// Builds a bus whose `subscribers` subscribers each filter on a pool of their own, and a
/// pool `hot` that none of them matches.
fn setup(sys: &SystemRunner, subscribers: usize, indexed: bool) -> Bus {
    sys.block_on(async move {
        let bus = Bus::start();
        let count = Arc::new(AtomicU64::new(0));
        for i in 0..subscribers {
            let pool = bus
                .create_pool(CreatePool::new(format!("p{i}"), "process"))
                .await
                .unwrap();
            let id = format!("prefect.work-pool.{}", pool.id);
            // The same condition, written so that the index can or cannot use it.
            let filter = if indexed {
                EventFilter::resource_ids([id])
            } else {
                serde_json::from_value(
                    serde_json::json!({"resource": {"labels": {"prefect.resource.id": id}}}),
                )
                .unwrap()
            };
            let addr = Counter(count.clone()).start();
            bus.subscribe(
                addr.recipient(),
                SubscribeOptions::new("own-pool").filter(filter),
            )
            .await
            .unwrap()
            .keep();
        }
        bus.create_pool(CreatePool::new("hot", "process"))
            .await
            .unwrap();
        bus.flush().await.unwrap();
        bus
    })
}

fn run(sys: &SystemRunner, bus: &Bus, iters: u64) -> Duration {
    sys.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let t = Instant::now();
            for k in 0..EVENTS {
                let update = if k % 2 == 0 {
                    PoolUpdate::pause()
                } else {
                    PoolUpdate::resume()
                };
                while let Err(workbus::Error::Busy) = bus.update_pool_nowait("hot", update.clone())
                {
                    bus.ready().await;
                }
                if k % 256 == 255 {
                    tokio::task::yield_now().await;
                }
            }
            // The pool has emitted everything once it answers; the registry has fanned it out once it flushes.
            bus.pool("hot").await.unwrap();
            bus.flush().await.unwrap();
            total += t.elapsed();
        }
        total
    })
}

fn filtered(c: &mut Criterion) {
    let mut group = c.benchmark_group("filtered_fanout");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(EVENTS));
    for (name, n, indexed) in [
        ("one_subscriber_baseline", 1, true),
        ("indexed", 1000, true),
        ("unindexed", 1000, false),
    ] {
        group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
            let sys = System::new();
            let bus = setup(&sys, n, indexed);
            b.iter_custom(|iters| run(&sys, &bus, iters));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = filtered
}
criterion_main!(benches);
