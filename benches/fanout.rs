//! Fan-out: events emitted by pool actors, through the registry, to N counting subscribers,
//! against, in the same run, raw actix forwarding an `Arc` to the same N subscribers, and the
//! peers an actix user would pick instead: actix-broker's system broker and kameo's `PubSub`
//! actor, each to N counting subscribers of its own. Each baseline runs twice: forwarding one
//! shared event (`raw_actix`, `actix_broker`, `kameo_pubsub`: the transport alone), and
//! carrying the same events as workbus, a Prefect status event built for each publish
//! (`…_events`). Throughput is in deliveries (events × subscribers) per second.
//!
//! After the groups, `fanout/paired/N` lines give workbus's ratio to the two peers carrying
//! the same events measured in pairs: all three in one system, in turn, in all six orders,
//! 24 rounds, the median, which the machine's drift between groups does not reach.
//!
//! Every contender starts from a [`fresh_heap`]: they share glibc's heap, and what the
//! peers' bursts leave in it slowed whoever ran next at N = 512, raw actix after
//! actix-broker to a quarter of its rate (`examples/paired_fanout.rs`).

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::paired::{summary, ALL_ORDERS};
use support::peers::{drive_broker, kameo_peer, start_broker_subscribers};
use support::*;

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
            // Each contender starts from a heap the one before left nothing in.
            fresh_heap();
            let sys = System::new();
            let count = Arc::new(AtomicU64::new(0));
            let (bus, fleet) = sys.block_on(start_workbus(n, POOLS, &count));
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
                fresh_heap();
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
                fresh_heap();
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
                fresh_heap();
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

/// Rounds of the paired measurement: each of the six orders four times.
const PAIRED_ROUNDS: usize = 4 * ALL_ORDERS.len();

/// Prints the [paired measurement](support::paired) at `n` subscribers: `PAIRED_ROUNDS`
/// rounds in all six orders, every sample from a [`fresh_heap`], the median of workbus's
/// throughput over each peer's in the same round.
///
/// The fresh heap fixed a bias: in the one order this used to run them in, workbus always
/// came after actix-broker, in the heap the broker's bursts had just fragmented, and
/// measured 0.67 of the broker at N = 512, against about twice the broker from a fresh
/// heap. The six orders share out whatever a sample still leaves the next.
fn paired(n: usize) {
    let events = events_for(n);
    let p = support::paired::measure(n, POOLS, events, &ALL_ORDERS, PAIRED_ROUNDS, true);
    let [ours, raw, broker] = p.rates.each_ref().map(|r| summary(r));
    println!(
        "fanout/paired/{n}: workbus / raw_actix_events {}; workbus / actix_broker_events {} \
         (median of {PAIRED_ROUNDS} rounds of {events} events a side; M deliveries/s: \
         workbus {ours}, raw actix {raw}, actix-broker {broker})",
        summary(&p.over_raw),
        summary(&p.over_broker),
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
