//! Scale and memory: creating 100,000 pools (each with its default queue: 100,000 queues),
//! timed, with resident memory per actor read from /proc, against starting the same number
//! of empty raw actix actors.

mod support;

use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::rss_bytes;
use workbus::{Bus, CreatePool};

const POOLS: usize = 100_000;

struct Empty;

impl Actor for Empty {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Ping;

impl Handler<Ping> for Empty {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_millis(100));
    group.throughput(Throughput::Elements(2 * POOLS as u64));
    let mut memory = Vec::new();

    group.bench_function("workbus_create_100k_pools_and_queues", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let sys = System::new();
                let (elapsed, grown) = sys.block_on(async {
                    let before = rss_bytes();
                    let bus = Bus::start();
                    let t = Instant::now();
                    for p in 0..POOLS {
                        bus.create_pool(CreatePool::new(format!("pool-{p}"), "process"))
                            .await
                            .unwrap();
                    }
                    bus.flush().await.unwrap();
                    let elapsed = t.elapsed();
                    (elapsed, rss_bytes().saturating_sub(before))
                });
                memory.push(("workbus", grown));
                total += elapsed;
            }
            total
        })
    });

    group.bench_function("raw_actix_start_200k_actors_baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let sys = System::new();
                let (elapsed, grown) = sys.block_on(async {
                    let before = rss_bytes();
                    let t = Instant::now();
                    let addrs: Vec<Addr<Empty>> = (0..2 * POOLS).map(|_| Empty.start()).collect();
                    // Every actor is running once it has answered.
                    addrs.last().unwrap().send(Ping).await.unwrap();
                    let elapsed = t.elapsed();
                    let grown = rss_bytes().saturating_sub(before);
                    drop(addrs);
                    (elapsed, grown)
                });
                memory.push(("raw_actix", grown));
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    for who in ["workbus", "raw_actix"] {
        // The largest growth seen: the first run of a process pays for all its heap; later runs reuse it.
        let grown = memory
            .iter()
            .filter(|(w, _)| *w == who)
            .map(|(_, g)| *g)
            .max()
            .unwrap_or(0);
        println!(
            "scale/{who}: resident memory grew {:.1} MiB for {} actors: {:.0} bytes per actor",
            grown as f64 / (1 << 20) as f64,
            2 * POOLS,
            grown as f64 / (2 * POOLS) as f64
        );
    }
}

criterion_group!(benches, scale);
criterion_main!(benches);
