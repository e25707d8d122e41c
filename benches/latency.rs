//! Latency from an operation to a subscriber's handler, at a paced rate, against raw actix
//! forwarding at the same pace. The pace is half of what this very setup sustains unpaced,
//! measured first in the same run: a fixed rate would saturate a slow or busy machine and
//! time the queue, not the bus.
//! Criterion reports the mean; the p50, p99 and p99.9 of every sample are printed after.

mod support;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use workbus::{Bus, CreatePool, Deliver, PoolUpdate, SubscribeOptions};

const OPS: usize = 20_000;
const SUBSCRIBERS: usize = 8;
const POOLS: usize = 100;

type Samples = Arc<Mutex<Vec<Duration>>>;

/// Records, for the first subscriber only, how long after its operation each event arrived.
struct Timer {
    issued: Issued,
    samples: Option<Samples>,
}

/// When each pool's pending operations were issued, oldest first: a pool's events keep its order.
type Issued = Arc<Mutex<HashMap<String, VecDeque<Instant>>>>;

impl Actor for Timer {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Deliver> for Timer {
    type Result = ();
    fn handle(&mut self, Deliver(e): Deliver, _: &mut Context<Self>) {
        if let Some(samples) = &self.samples {
            let pool = e.resource.get("prefect.resource.name").unwrap_or_default();
            if let Some(at) = self
                .issued
                .lock()
                .unwrap()
                .get_mut(pool)
                .and_then(|q| q.pop_front())
            {
                samples.lock().unwrap().push(at.elapsed());
            }
        }
    }
}

#[derive(Clone, Message)]
#[rtype(result = "()")]
struct Raw(Arc<Instant>);

struct RawTimer(Option<Samples>);

impl Actor for RawTimer {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
    }
}

impl Handler<Raw> for RawTimer {
    type Result = ();
    fn handle(&mut self, Raw(at): Raw, _: &mut Context<Self>) {
        if let Some(s) = &self.0 {
            s.lock().unwrap().push(at.elapsed());
        }
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

/// Issues `OPS` operations at `rate` per second, yielding between them so the actors run;
/// with no rate, as fast as the actors take them (yielding every 256). `op(k, first)`
/// answers false when the bus refused operation `k` as busy (a burst the pace let pile up
/// while the machine stalled can find the registry behind): it is tried again once `bus` is
/// ready, its latency still counted from its first try.
async fn paced(rate: Option<f64>, bus: Option<&Bus>, mut op: impl FnMut(usize, bool) -> bool) {
    let start = Instant::now();
    for k in 0..OPS {
        match rate {
            Some(rate) => {
                let due = start + Duration::from_secs_f64(k as f64 / rate);
                while Instant::now() < due {
                    tokio::task::yield_now().await;
                }
            }
            None if k % 256 == 255 => tokio::task::yield_now().await,
            None => {}
        }
        let mut first = true;
        while !op(k, first) {
            first = false;
            if let Some(bus) = bus {
                bus.ready().await;
            }
        }
    }
}

type Pools = Vec<(String, bool)>;

/// Operation `k` (`first`: its first try): pause or resume (alternately, so each emits one
/// event) one of the pools; false when the bus refused it as busy.
fn operate(bus: &Bus, pools: &mut Pools, issued: &Issued, k: usize, first: bool) -> bool {
    let (name, paused) = &mut pools[k % POOLS];
    if first {
        issued
            .lock()
            .unwrap()
            .entry(name.clone())
            .or_default()
            .push_back(Instant::now());
        *paused = !*paused;
    }
    let update = if *paused {
        PoolUpdate::pause()
    } else {
        PoolUpdate::resume()
    };
    match bus.update_pool_nowait(name, update) {
        Ok(()) => true,
        Err(workbus::Error::Busy) => false,
        Err(e) => panic!("operation {k}: {e}"),
    }
}

fn percentiles(name: &str, samples: &Samples) {
    let mut s = samples.lock().unwrap().clone();
    if s.is_empty() {
        return;
    }
    s.sort();
    let at = |q: f64| s[((s.len() as f64 * q) as usize).min(s.len() - 1)];
    println!(
        "latency/{name}: n={} p50={:?} p99={:?} p99.9={:?} max={:?}",
        s.len(),
        at(0.50),
        at(0.99),
        at(0.999),
        s[s.len() - 1]
    );
}

async fn settle_until(done: impl Fn() -> bool) {
    while !done() {
        tokio::task::yield_now().await;
    }
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("latency");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let workbus_samples: Samples = Arc::default();
    let raw_samples: Samples = Arc::default();
    // Set by the workbus run's calibration, used by both.
    let rate = std::cell::Cell::new(0.0f64);

    group.bench_function("workbus_op_to_handler", |b| {
        let sys = System::new();
        let issued: Issued = Arc::default();
        let (mut pools, bus) = sys.block_on(async {
            let bus = Bus::start();
            let mut pools = Vec::new();
            for i in 0..POOLS {
                let name = format!("p{i}");
                bus.create_pool(CreatePool::new(name.clone(), "process"))
                    .await
                    .unwrap();
                pools.push((name.clone(), false));
            }
            bus.flush().await.unwrap();
            for s in 0..SUBSCRIBERS {
                let samples = (s == 0).then(|| workbus_samples.clone());
                let t = Timer {
                    issued: issued.clone(),
                    samples,
                }
                .start();
                bus.subscribe(t.recipient(), SubscribeOptions::new("timer"))
                    .await
                    .unwrap()
                    .keep();
            }
            (pools, bus)
        });
        // Calibrate once, on criterion's first call: the same operations unpaced, three
        // times, until the first subscriber has them all; the median run sets the pace.
        if rate.get() == 0.0 {
            let mut sustained: Vec<f64> = (0..3)
                .map(|_| {
                    sys.block_on(async {
                        let kept = workbus_samples.lock().unwrap().len();
                        let t = Instant::now();
                        paced(None, Some(&bus), |k, first| {
                            operate(&bus, &mut pools, &issued, k, first)
                        })
                        .await;
                        settle_until(|| workbus_samples.lock().unwrap().len() >= kept + OPS).await;
                        workbus_samples.lock().unwrap().truncate(kept);
                        OPS as f64 / t.elapsed().as_secs_f64()
                    })
                })
                .collect();
            sustained.sort_by(f64::total_cmp);
            rate.set(sustained[1] / 2.0);
            println!(
                "latency: pacing at {:.0} operations/s, half of the {:.0}/s sustained unpaced",
                rate.get(),
                sustained[1]
            );
        }
        b.iter_custom(|iters| {
            sys.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let before = workbus_samples.lock().unwrap().len();
                    let t0 = workbus_samples.lock().unwrap().iter().sum::<Duration>();
                    paced(Some(rate.get()), Some(&bus), |k, first| {
                        operate(&bus, &mut pools, &issued, k, first)
                    })
                    .await;
                    settle_until(|| workbus_samples.lock().unwrap().len() >= before + OPS).await;
                    let t1 = workbus_samples.lock().unwrap().iter().sum::<Duration>();
                    total += (t1 - t0) / OPS as u32;
                }
                let _ = &bus;
                total
            })
        });
    });

    group.bench_function("raw_actix_baseline", |b| {
        let sys = System::new();
        let registry = sys.block_on(async {
            let subs = (0..SUBSCRIBERS)
                .map(|s| {
                    RawTimer((s == 0).then(|| raw_samples.clone()))
                        .start()
                        .recipient()
                })
                .collect();
            RawRegistry(subs).start()
        });
        b.iter_custom(|iters| {
            sys.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let before = raw_samples.lock().unwrap().len();
                    let t0 = raw_samples.lock().unwrap().iter().sum::<Duration>();
                    paced(Some(rate.get()), None, |_, _| {
                        registry.do_send(Raw(Arc::new(Instant::now())));
                        true
                    })
                    .await;
                    settle_until(|| raw_samples.lock().unwrap().len() >= before + OPS).await;
                    let t1 = raw_samples.lock().unwrap().iter().sum::<Duration>();
                    total += (t1 - t0) / OPS as u32;
                }
                total
            })
        });
    });
    group.finish();
    percentiles("workbus_op_to_handler", &workbus_samples);
    percentiles("raw_actix_baseline", &raw_samples);
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = latency
}
criterion_main!(benches);
