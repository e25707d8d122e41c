//! Fan-out: events emitted by pool actors, through the registry, to N counting subscribers,
//! against, in the same run, raw actix forwarding an `Arc` to the same N subscribers, and the
//! peers an actix user would pick instead: actix-broker's system broker and kameo's `PubSub`
//! actor, each to N counting subscribers of its own. Each baseline runs twice: forwarding one
//! shared event (`raw_actix`, `actix_broker`, `kameo_pubsub`: the transport alone), and
//! carrying the same events as workbus, a Prefect status event built for each publish
//! (`…_events`). Throughput is in deliveries (events × subscribers) per second.
//!
//! After the groups, `fanout/paired/N` lines give workbus's ratio to the two peers carrying
//! the same events measured in pairs: all three in one system, in turn, 21 rounds, the
//! median, which the machine's drift between groups does not reach.

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

/// A bus with `n` subscribers adding to `count`, and its `POOLS` pools.
async fn start_workbus(n: usize, count: &Arc<AtomicU64>) -> (Bus, Fleet) {
    let bus = Bus::start();
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
    (bus, fleet)
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
            let count = Arc::new(AtomicU64::new(0));
            let (bus, fleet) = sys.block_on(start_workbus(n, &count));
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
    for n in [1usize, 8, 64, 512] {
        paired(n);
    }
}

/// Rounds of the paired measurement.
const PAIRED_ROUNDS: usize = 21;

/// Workbus and the two peers carrying the same events (`raw_actix_events`,
/// `actix_broker_events`), at `n` subscribers, all in one system, taking turns (which goes
/// first rotates), `PAIRED_ROUNDS` rounds of a sample each; printed: the median of workbus's
/// throughput over each peer's in the same round. Criterion's groups run a minute apart, and
/// the machine drifts between them more than the gaps measured; a round's three samples are
/// milliseconds apart.
fn paired(n: usize) {
    let sys = System::new();
    let events = events_for(n);
    let deliveries = (events * n) as u64;
    let payloads = Payloads::built(POOLS);
    let counts: [Arc<AtomicU64>; 3] = Default::default();
    let (bus, fleet, raw) = sys.block_on(async {
        let (bus, fleet) = start_workbus(n, &counts[0]).await;
        let subs = (0..n)
            .map(|_| RawCounter(counts[1].clone()).start().recipient())
            .collect();
        let raw = RawRegistry(subs).start();
        start_broker_subscribers(n, &counts[2]).await;
        (bus, fleet, raw)
    });
    let time = |who: usize| match who {
        0 => timed(&sys, &counts[0], deliveries, 1, || {
            fleet.drive(&bus, events)
        }),
        1 => timed(&sys, &counts[1], deliveries, 1, || {
            drive_raw(&raw, &payloads, events)
        }),
        _ => timed(&sys, &counts[2], deliveries, 1, || {
            drive_broker(&payloads, events)
        }),
    };
    // A sample each to warm up.
    (0..3).for_each(|who| {
        time(who);
    });
    let mut over_raw = Vec::with_capacity(PAIRED_ROUNDS);
    let mut over_broker = Vec::with_capacity(PAIRED_ROUNDS);
    let mut rates: [Vec<f64>; 3] = Default::default();
    for round in 0..PAIRED_ROUNDS {
        let mut t = [Duration::ZERO; 3];
        for k in 0..3 {
            let who = (round + k) % 3;
            t[who] = time(who);
            rates[who].push(deliveries as f64 / t[who].as_secs_f64() / 1e6);
        }
        // Throughput over throughput: the inverse of the times.
        over_raw.push(t[1].as_secs_f64() / t[0].as_secs_f64());
        over_broker.push(t[2].as_secs_f64() / t[0].as_secs_f64());
    }
    let summary = |mut r: Vec<f64>| {
        r.sort_by(f64::total_cmp);
        format!(
            "{:.2} ({:.2} to {:.2})",
            r[PAIRED_ROUNDS / 2],
            r[0],
            r[PAIRED_ROUNDS - 1]
        )
    };
    let [ours, raw, broker] = rates.map(&summary);
    println!(
        "fanout/paired/{n}: workbus / raw_actix_events {}; workbus / actix_broker_events {} \
         (median of {PAIRED_ROUNDS} rounds of {events} events a side; M deliveries/s: \
         workbus {ours}, raw actix {raw}, actix-broker {broker})",
        summary(over_raw),
        summary(over_broker),
    );
}

criterion_group! {
    name = benches;
    // No HTML plots: criterion drew about 15 SVGs a benchmark, about 3 s each time,
    // 40% of what the fan-out bench took. The figures are the same without them.
    config = Criterion::default().without_plots();
    targets = fanout
}
criterion_main!(benches);
