//! Offline detection, in real time: 10,000 workers (one per pool) whose deadlines fall in the
//! same second; how late after its deadline each pool's `not-ready` reaches a subscriber.
//! The baseline is tokio's timer itself: 10,000 `sleep_until`s for the same deadlines.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use workbus::{Bus, BusConfig, CreatePool, Deliver, EventFilter, SubscribeOptions};

const POOLS: usize = 10_000;

type Lateness = Arc<Mutex<Vec<Duration>>>;

/// Records how late each pool's not-ready arrived against its deadline.
struct Watch {
    deadlines: Arc<Mutex<HashMap<String, Instant>>>,
    lateness: Lateness,
}

impl Actor for Watch {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Deliver> for Watch {
    type Result = ();
    fn handle(&mut self, Deliver(e): Deliver, _: &mut Context<Self>) {
        let now = Instant::now();
        let name = e.resource.get("prefect.resource.name").unwrap_or_default();
        if let Some(deadline) = self.deadlines.lock().unwrap().remove(name) {
            self.lateness
                .lock()
                .unwrap()
                .push(now.saturating_duration_since(deadline));
        }
    }
}

fn report(name: &str, samples: &Lateness) {
    let mut s = samples.lock().unwrap().clone();
    if s.is_empty() {
        return;
    }
    s.sort();
    let at = |q: f64| s[((s.len() as f64 * q) as usize).min(s.len() - 1)];
    println!(
        "offline/{name}: n={} p50={:?} p99={:?} max={:?}",
        s.len(),
        at(0.5),
        at(0.99),
        s[s.len() - 1]
    );
}

fn offline(c: &mut Criterion) {
    let mut group = c.benchmark_group("offline");
    // Each sample waits through real deadlines: few samples, each about two seconds.
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_millis(10));
    let workbus_lateness: Lateness = Arc::default();
    let tokio_lateness: Lateness = Arc::default();

    group.bench_function("workbus_not_ready_lateness", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let sys = System::new();
                total += sys.block_on(async {
                    // Interval 1 s × multiple 1: offline one second after the last heartbeat.
                    let config = BusConfig {
                        worker_inactivity_multiple: 1,
                        ..BusConfig::default()
                    };
                    let bus = Bus::builder().config(config).start();
                    let names: Vec<String> = (0..POOLS).map(|p| format!("pool-{p}")).collect();
                    for n in &names {
                        bus.create_pool(CreatePool::new(n.clone(), "process"))
                            .await
                            .unwrap();
                    }
                    let deadlines: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
                    // Room for this run's samples now: growing the vector inside the
                    // measured window would time the allocator, not the bus.
                    let before = {
                        let mut s = workbus_lateness.lock().unwrap();
                        s.reserve(POOLS);
                        s.len()
                    };
                    let watch = Watch {
                        deadlines: deadlines.clone(),
                        lateness: workbus_lateness.clone(),
                    }
                    .start();
                    let filter = EventFilter::prefix(["prefect.work-pool.not-ready"]);
                    bus.subscribe(
                        watch.recipient(),
                        SubscribeOptions::new("watch").filter(filter),
                    )
                    .await
                    .unwrap();
                    // Heartbeats spread over the first ~100 ms; every deadline falls within one second.
                    for n in &names {
                        let sent = Instant::now();
                        bus.heartbeat(n, "w", Some(1)).await.unwrap();
                        deadlines
                            .lock()
                            .unwrap()
                            .insert(n.clone(), sent + Duration::from_secs(1));
                    }
                    while workbus_lateness.lock().unwrap().len() < before + POOLS {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let s = workbus_lateness.lock().unwrap();
                    s[before..].iter().sum::<Duration>() / POOLS as u32
                });
            }
            total
        })
    });

    group.bench_function("tokio_sleep_until_baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let local = tokio::task::LocalSet::new();
                let before = {
                    let mut s = tokio_lateness.lock().unwrap();
                    s.reserve(POOLS);
                    s.len()
                };
                local.block_on(&rt, async {
                    let start = Instant::now();
                    for p in 0..POOLS {
                        let deadline =
                            start + Duration::from_secs(1) + Duration::from_micros(p as u64 * 10);
                        let lateness = tokio_lateness.clone();
                        tokio::task::spawn_local(async move {
                            tokio::time::sleep_until(deadline.into()).await;
                            lateness
                                .lock()
                                .unwrap()
                                .push(Instant::now().saturating_duration_since(deadline));
                        });
                    }
                    while tokio_lateness.lock().unwrap().len() < before + POOLS {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                });
                let s = tokio_lateness.lock().unwrap();
                total += s[before..].iter().sum::<Duration>() / POOLS as u32;
            }
            total
        })
    });
    group.finish();
    report("workbus_not_ready_lateness", &workbus_lateness);
    report("tokio_sleep_until_baseline", &tokio_lateness);
}

criterion_group!(benches, offline);
criterion_main!(benches);
