//! Durable state, against the in-memory bus in the same run: creates and changes per second
//! written through the redb store (each answered once on disk, many sharing a sync),
//! heartbeats per second with the store (the in-place path, which a store must not slow; its
//! ratio also measured in pairs), and the time to rebuild 100,000 pools and their 100,000
//! default queues from the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use futures_util::stream::{self, StreamExt};
use workbus::{Bus, CreatePool, PoolUpdate};
use workbus_store::{RedbStore, Store};

const POOLS: usize = 1_000;
const CHANGES: u64 = 4_000;
const IN_FLIGHT: usize = 64;
const WORKERS: usize = 10;
const RESTORED: usize = 100_000;

/// A bus in memory, or on a redb store in a fresh temporary directory.
fn bus(durable: bool) -> (Bus, Option<tempfile::TempDir>) {
    if !durable {
        return (Bus::start(), None);
    }
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    (Bus::builder().open(store).unwrap(), Some(dir))
}

async fn pools(bus: &Bus, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|p| format!("pool-{p}")).collect();
    stream::iter(names.clone())
        .for_each_concurrent(IN_FLIGHT, |name| async move {
            bus.create_pool(CreatePool::new(name, "process"))
                .await
                .unwrap();
        })
        .await;
    names
}

fn changes(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_changes");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(CHANGES));
    for (label, durable) in [("in_memory", false), ("redb", true)] {
        group.bench_function(BenchmarkId::new(label, CHANGES), |b| {
            let sys = System::new();
            let (bus, dir, names) = sys.block_on(async {
                let (bus, dir) = bus(durable);
                let names = pools(&bus, POOLS).await;
                (bus, dir, names)
            });
            let mut round = 0u64;
            b.iter_custom(|iters| {
                sys.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        round += 1;
                        // Each change is real (a new description): an event and a commit each.
                        stream::iter(0..CHANGES)
                            .for_each_concurrent(IN_FLIGHT, |i| {
                                let (bus, name) = (&bus, &names[i as usize % POOLS]);
                                let d = format!("r{round}-{i}");
                                async move {
                                    bus.update_pool(name, PoolUpdate::new().description(d))
                                        .await
                                        .unwrap();
                                }
                            })
                            .await;
                    }
                    t.elapsed()
                })
            });
            drop(dir);
        });
    }
    group.finish();
}

fn creates(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_creates");
    // Pools pile up across iterations (each round makes new ones): a short measurement
    // keeps the in-memory run well under the bus's 1,000,000-pool limit.
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let n = POOLS as u64;
    group.throughput(Throughput::Elements(n));
    for (label, durable) in [("in_memory", false), ("redb", true)] {
        group.bench_function(BenchmarkId::new(label, n), |b| {
            let sys = System::new();
            let (bus, dir) = sys.block_on(async { bus(durable) });
            let mut round = 0u64;
            b.iter_custom(|iters| {
                sys.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        round += 1;
                        // Each a new pool and its default queue: two records, three events.
                        stream::iter(0..POOLS)
                            .for_each_concurrent(IN_FLIGHT, |i| {
                                let (bus, name) = (&bus, format!("r{round}-pool-{i}"));
                                async move {
                                    bus.create_pool(CreatePool::new(name, "process"))
                                        .await
                                        .unwrap();
                                }
                            })
                            .await;
                    }
                    t.elapsed()
                })
            });
            drop(dir);
        });
    }
    group.finish();
}

/// A bus with `POOLS` pools, each with `WORKERS` workers online, ready for heartbeats that
/// change only a time.
async fn beating(
    durable: bool,
    workers: &[String],
) -> (Bus, Option<tempfile::TempDir>, Vec<String>) {
    let (bus, dir) = bus(durable);
    let names = pools(&bus, POOLS).await;
    // The first heartbeat of each worker is a change (a commit with a store), sent 64 at
    // a time so that they share syncs; the measured ones change only a time, as nearly
    // all do in a fleet.
    let firsts = names
        .iter()
        .flat_map(|n| workers.iter().map(move |w| (n, w)));
    stream::iter(firsts)
        .for_each_concurrent(IN_FLIGHT, |(name, w)| {
            let bus = &bus;
            async move { bus.heartbeat(name, w.as_str()).await.unwrap() }
        })
        .await;
    (bus, dir, names)
}

/// One heartbeat of every worker of every pool, awaited one by one.
async fn beat_all(bus: &Bus, names: &[String], workers: &[String]) {
    for w in workers {
        for name in names {
            bus.heartbeat(name, w.as_str()).await.unwrap();
        }
    }
}

fn heartbeats(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_heartbeats");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let beats = (POOLS * WORKERS) as u64;
    group.throughput(Throughput::Elements(beats));
    let workers: Vec<String> = (0..WORKERS).map(|w| format!("worker-{w}")).collect();
    for (label, durable) in [("in_memory", false), ("redb", true)] {
        group.bench_function(BenchmarkId::new(label, beats), |b| {
            let sys = System::new();
            let (bus, dir, names) = sys.block_on(beating(durable, &workers));
            b.iter_custom(|iters| {
                sys.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        beat_all(&bus, &names, &workers).await;
                    }
                    t.elapsed()
                })
            });
            drop(dir);
        });
    }
    group.finish();
    paired_heartbeats(&workers);
}

/// Rounds of the paired heartbeat measurement.
const PAIRED_ROUNDS: usize = 21;

/// The heartbeat ratio measured in pairs: both buses in one system, each round one pass of
/// 10,000 heartbeats on each, one right after the other (which goes first alternates), and
/// the median of the rounds' ratios. Criterion's two groups run seconds apart, and this
/// machine drifts more than that between them than the goal's 10%.
fn paired_heartbeats(workers: &[String]) {
    let sys = System::new();
    let (memory, _, names) = sys.block_on(beating(false, workers));
    let (redb, dir, _) = sys.block_on(beating(true, workers));
    let time = |bus: &Bus| {
        sys.block_on(async {
            let t = Instant::now();
            beat_all(bus, &names, workers).await;
            t.elapsed()
        })
    };
    // A pass each to warm up.
    time(&memory);
    time(&redb);
    let mut ratios: Vec<f64> = (0..PAIRED_ROUNDS)
        .map(|round| {
            let (ours, theirs) = if round % 2 == 0 {
                let ours = time(&redb);
                (ours, time(&memory))
            } else {
                let theirs = time(&memory);
                (time(&redb), theirs)
            };
            // Heartbeats per second, redb over in memory: the inverse of the times.
            theirs.as_secs_f64() / ours.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "durable_heartbeats/paired: redb / in memory {:.2} (median of {PAIRED_ROUNDS} rounds \
         of {} heartbeats a side; {:.2} to {:.2})",
        ratios[PAIRED_ROUNDS / 2],
        POOLS * WORKERS,
        ratios[0],
        ratios[PAIRED_ROUNDS - 1],
    );
    drop(dir);
}

fn restore(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_restore");
    group
        .sample_size(10)
        // A restore takes about two seconds: one per sample, not 1 to 10.
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    {
        let sys = System::new();
        sys.block_on(async {
            let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
            let bus = Bus::builder().open(store).unwrap();
            pools(&bus, RESTORED).await;
            bus.flush().await.unwrap();
        });
    }
    group.bench_function(
        BenchmarkId::new("pools_and_their_default_queues", RESTORED),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A system per restart: the last one's actors (and its lock) are gone.
                    let sys = System::new();
                    total += sys.block_on(async {
                        let t = Instant::now();
                        let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
                        let bus = Bus::builder().open(store).unwrap();
                        // The actors start in order on one arbiter: once the last pool
                        // answers, every one has started.
                        let last = format!("pool-{}", RESTORED - 1);
                        bus.pool(&last).await.unwrap();
                        t.elapsed()
                    });
                }
                total
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = creates, changes, heartbeats, restore
}
criterion_main!(benches);
