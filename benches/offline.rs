//! Offline detection, in real time: 10,000 workers (one per pool) whose deadlines fall in the
//! same second; how late after its deadline each pool's `not-ready` reaches a subscriber.
//! The baseline is tokio's timer itself: 10,000 `sleep_until`s for deadlines spaced the same.
//!
//! Two shapes of that second:
//! - `spread`: the heartbeats, and so the deadlines, are spaced evenly across the second
//!   (one every 100 µs), the scenario and the goal's;
//! - `burst`: the heartbeats go as fast as they are answered, so all 10,000 deadlines fall
//!   within a few tens of milliseconds. Expiries then arrive as fast as the heartbeats were
//!   handled, which keeps the bus near saturation, so a hiccup of the machine is never
//!   caught up within the burst: a stress figure, reported without a goal, and run only
//!   with `WORKBUS_BENCH_STRESS=1` set (`WORKBUS_BENCH_STRESS=1 cargo bench --bench offline`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use workbus::{Bus, BusConfig, CreatePool, Deliver, EventFilter, SubscribeOptions};

const POOLS: usize = 10_000;
/// The spacing of the spread scenario's heartbeats: 10,000 of them across one second.
const SPREAD: Duration = Duration::from_micros(100);
/// The spacing of the burst scenario's tokio baseline (its heartbeats go unpaced).
const BURST: Duration = Duration::from_micros(4);

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

/// Room for this run's samples now: growing the vector inside the measured window would
/// time the allocator, not the bus. Returns where this run's samples start.
fn make_room(samples: &Lateness) -> usize {
    let mut s = samples.lock().unwrap();
    s.reserve(POOLS);
    s.len()
}

fn mean_since(samples: &Lateness, before: usize) -> Duration {
    let s = samples.lock().unwrap();
    s[before..].iter().sum::<Duration>() / POOLS as u32
}

/// One run: 10,000 pools, one heartbeat each (paced by `spacing`, or unpaced), then the
/// wait for every `not-ready`. Answers the mean lateness of the run.
async fn workbus_run(spacing: Option<Duration>, lateness: &Lateness) -> Duration {
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
    let before = make_room(lateness);
    let watch = Watch {
        deadlines: deadlines.clone(),
        lateness: lateness.clone(),
    }
    .start();
    let filter = EventFilter::prefix(["prefect.work-pool.not-ready"]);
    bus.subscribe(
        watch.recipient(),
        SubscribeOptions::new("watch").filter(filter),
    )
    .await
    .unwrap()
    .keep();
    let start = Instant::now();
    for (i, n) in names.iter().enumerate() {
        if let Some(spacing) = spacing {
            tokio::time::sleep_until((start + spacing * i as u32).into()).await;
        }
        let sent = Instant::now();
        bus.heartbeat(n, every("w", 1)).await.unwrap();
        deadlines
            .lock()
            .unwrap()
            .insert(n.clone(), sent + Duration::from_secs(1));
    }
    while lateness.lock().unwrap().len() < before + POOLS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    mean_since(lateness, before)
}

/// The baseline run: 10,000 tokio `sleep_until`s for deadlines one second out, `spacing` apart.
fn tokio_run(spacing: Duration, lateness: &Lateness) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let before = make_room(lateness);
    local.block_on(&rt, async {
        let start = Instant::now();
        for p in 0..POOLS {
            let deadline = start + Duration::from_secs(1) + spacing * p as u32;
            let lateness = lateness.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep_until(deadline.into()).await;
                lateness
                    .lock()
                    .unwrap()
                    .push(Instant::now().saturating_duration_since(deadline));
            });
        }
        while lateness.lock().unwrap().len() < before + POOLS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    mean_since(lateness, before)
}

fn offline(c: &mut Criterion) {
    let mut group = c.benchmark_group("offline");
    // Each sample waits through real deadlines: few samples, each one to three seconds.
    group
        .sample_size(10)
        // An iteration waits out a second of deadlines: the same number per sample, not 1 to 10.
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(10));
    // The burst is a stress figure without a goal: it runs on demand, keeping `cargo bench`
    // under its ten minutes.
    let mut scenarios = vec![("spread", Some(SPREAD), SPREAD)];
    if std::env::var_os("WORKBUS_BENCH_STRESS").is_some() {
        scenarios.push(("burst", None, BURST));
    }
    let mut reports = Vec::new();
    for (shape, spacing, baseline_spacing) in scenarios {
        let workbus: Lateness = Arc::default();
        let tokio: Lateness = Arc::default();
        group.bench_function(format!("workbus_not_ready_lateness_{shape}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| System::new().block_on(workbus_run(spacing, &workbus)))
                    .sum()
            })
        });
        group.bench_function(format!("tokio_sleep_until_baseline_{shape}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| tokio_run(baseline_spacing, &tokio))
                    .sum()
            })
        });
        reports.push((format!("workbus_not_ready_lateness_{shape}"), workbus));
        reports.push((format!("tokio_sleep_until_baseline_{shape}"), tokio));
    }
    group.finish();
    for (name, samples) in &reports {
        report(name, samples);
    }
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = offline
}
criterion_main!(benches);

/// A heartbeat from `worker` that says it beats every `secs` seconds.
fn every(worker: &str, secs: u32) -> workbus::Heartbeat<'_> {
    workbus::Heartbeat::new(worker).every(workbus::HeartbeatInterval::from_secs(secs).unwrap())
}
