//! Heartbeat storm: heartbeats from 100,000 workers across 10,000 pools through the public
//! handle, nearly all of them changing nothing, against raw actix actors (one per pool)
//! that only record the heartbeat's time in a map.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::future::join_all;
use workbus::{Bus, CreatePool};

const POOLS: usize = 10_000;
const WORKERS_PER_POOL: usize = 10;
const HEARTBEATS: u64 = (POOLS * WORKERS_PER_POOL) as u64;

#[derive(Message)]
#[rtype(result = "()")]
struct RawHeartbeat(String);

#[derive(Message)]
#[rtype(result = "()")]
struct RawPing;

#[derive(Default)]
struct RawPool(HashMap<String, Instant>);

impl Actor for RawPool {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<RawHeartbeat> for RawPool {
    type Result = ();
    fn handle(&mut self, RawHeartbeat(w): RawHeartbeat, _: &mut Context<Self>) {
        self.0.insert(w, Instant::now());
    }
}

impl Handler<RawPing> for RawPool {
    type Result = ();
    fn handle(&mut self, _: RawPing, _: &mut Context<Self>) {}
}

fn worker_names() -> Vec<String> {
    (0..WORKERS_PER_POOL)
        .map(|w| format!("worker-{w}"))
        .collect()
}

fn storm(c: &mut Criterion) {
    let mut group = c.benchmark_group("heartbeats");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(HEARTBEATS));
    let workers = worker_names();

    group.bench_function(BenchmarkId::new("workbus_nowait", HEARTBEATS), |b| {
        let sys = System::new();
        let (bus, names) = sys.block_on(async {
            let bus = Bus::start();
            let mut names = Vec::with_capacity(POOLS);
            for p in 0..POOLS {
                let name = format!("pool-{p}");
                bus.create_pool(CreatePool::new(name.clone(), "process"))
                    .await
                    .unwrap();
                names.push(name);
            }
            // One round first, so that every later heartbeat finds its pool ready: no events.
            for name in &names {
                for w in &workers {
                    bus.heartbeat(name, every(w, 3600)).await.unwrap();
                }
            }
            (bus, names)
        });
        b.iter_custom(|iters| {
            sys.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    for (i, w) in workers.iter().enumerate() {
                        for name in &names {
                            while let Err(workbus::Error::Busy) =
                                bus.heartbeat_nowait(name, every(w, 3600))
                            {
                                bus.ready().await;
                            }
                        }
                        if i % 2 == 1 {
                            tokio::task::yield_now().await;
                        }
                    }
                    // Every pool has handled its heartbeats once it answers a read; the
                    // reads go out together, as the baseline's pings do.
                    let reads = names.iter().map(|n| bus.pool(n));
                    for answer in join_all(reads).await {
                        answer.unwrap();
                    }
                    total += t.elapsed();
                }
                total
            })
        });
    });

    group.bench_function(BenchmarkId::new("workbus_awaited", HEARTBEATS), |b| {
        let sys = System::new();
        let (bus, names) = sys.block_on(async {
            let bus = Bus::start();
            let names: Vec<String> = (0..POOLS).map(|p| format!("pool-{p}")).collect();
            for name in &names {
                bus.create_pool(CreatePool::new(name.clone(), "process"))
                    .await
                    .unwrap();
                bus.heartbeat(name, every("worker-0", 3600)).await.unwrap();
            }
            (bus, names)
        });
        b.iter_custom(|iters| {
            sys.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    for w in &workers {
                        for name in &names {
                            bus.heartbeat(name, every(w, 3600)).await.unwrap();
                        }
                    }
                }
                t.elapsed()
            })
        });
    });

    group.bench_function(BenchmarkId::new("raw_actix_baseline", HEARTBEATS), |b| {
        let sys = System::new();
        let pools: Vec<Addr<RawPool>> =
            sys.block_on(async { (0..POOLS).map(|_| RawPool::default().start()).collect() });
        b.iter_custom(|iters| {
            sys.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    for (i, w) in workers.iter().enumerate() {
                        for p in &pools {
                            p.do_send(RawHeartbeat(w.clone()));
                        }
                        if i % 2 == 1 {
                            tokio::task::yield_now().await;
                        }
                    }
                    for answer in join_all(pools.iter().map(|p| p.send(RawPing))).await {
                        answer.unwrap();
                    }
                    total += t.elapsed();
                }
                total
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = storm
}
criterion_main!(benches);

/// A heartbeat from `worker` that says it beats every `secs` seconds.
fn every(worker: &str, secs: u32) -> workbus::Heartbeat<'_> {
    workbus::Heartbeat::new(worker).every(workbus::HeartbeatInterval::from_secs(secs).unwrap())
}
