//! The paired fan-out measurement: workbus and the two peers carrying the same events
//! (raw actix and actix-broker, each building a new status event a publish), at N
//! subscribers, all three in one system, taking turns, a sample each a round. Criterion's
//! groups run a minute apart and the machine drifts between them more than the gaps
//! measured; a round's three samples are milliseconds apart. `benches/fanout.rs` prints it
//! after its groups; `examples/paired_fanout.rs` runs it in other orders, or one contender
//! alone, to see what each leaves the next.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::peers::{drive_broker, start_broker_subscribers};
use super::{drive_raw, fresh_heap, start_workbus, until, Payloads, RawCounter, RawRegistry};

/// The contenders, by the index the orders use.
pub const CONTENDERS: [&str; 3] = ["workbus", "raw actix", "actix-broker"];

/// All six orders of the three contenders: taken in turn, each follows each other as often,
/// whatever one leaves behind for the next.
pub const ALL_ORDERS: [&[usize]; 6] = [
    &[0, 1, 2],
    &[0, 2, 1],
    &[1, 0, 2],
    &[1, 2, 0],
    &[2, 0, 1],
    &[2, 1, 0],
];

/// What a paired run measured.
pub struct Paired {
    /// Each contender's samples, in M deliveries per second, in the order taken.
    pub rates: [Vec<f64>; 3],
    /// Workbus's throughput over raw actix's, in each round where both ran.
    pub over_raw: Vec<f64>,
    /// Workbus's throughput over actix-broker's, in each round where both ran.
    pub over_broker: Vec<f64>,
}

/// Runs `rounds` rounds of `events` events a sample at `n` subscribers and `pools` pools,
/// round `r` taking the contenders in `orders[r % orders.len()]` (an order may leave some
/// out), after a sample of each to warm up; with `fresh`, every sample starts from a
/// [`fresh_heap`].
pub fn measure(
    n: usize,
    pools: usize,
    events: usize,
    orders: &[&[usize]],
    rounds: usize,
    fresh: bool,
) -> Paired {
    let sys = System::new();
    let deliveries = (events * n) as u64;
    let payloads = Payloads::built(pools);
    let counts: [Arc<AtomicU64>; 3] = Default::default();
    let (bus, fleet, raw) = sys.block_on(async {
        let (bus, fleet) = start_workbus(n, pools, &counts[0]).await;
        let subs = (0..n)
            .map(|_| RawCounter(counts[1].clone()).start().recipient())
            .collect();
        let raw = RawRegistry(subs).start();
        start_broker_subscribers(n, &counts[2]).await;
        (bus, fleet, raw)
    });
    let time = |who: usize| -> Duration {
        if fresh {
            fresh_heap();
        }
        let count = &counts[who];
        sys.block_on(async {
            let base = count.load(Ordering::Relaxed);
            let t = Instant::now();
            match who {
                0 => fleet.drive(&bus, events).await,
                1 => drive_raw(&raw, &payloads, events).await,
                _ => drive_broker(&payloads, events).await,
            }
            until(count, base + deliveries).await;
            t.elapsed()
        })
    };
    for who in 0..3 {
        time(who);
    }
    let mut paired = Paired {
        rates: Default::default(),
        over_raw: Vec::with_capacity(rounds),
        over_broker: Vec::with_capacity(rounds),
    };
    for round in 0..rounds {
        let mut t: [Option<Duration>; 3] = [None; 3];
        for &who in orders[round % orders.len()] {
            let took = time(who);
            paired.rates[who].push(deliveries as f64 / took.as_secs_f64() / 1e6);
            t[who] = Some(took);
        }
        // Throughput over throughput: the inverse of the times.
        if let (Some(ours), Some(raw)) = (t[0], t[1]) {
            paired.over_raw.push(raw.as_secs_f64() / ours.as_secs_f64());
        }
        if let (Some(ours), Some(broker)) = (t[0], t[2]) {
            paired
                .over_broker
                .push(broker.as_secs_f64() / ours.as_secs_f64());
        }
    }
    paired
}

/// "median (lowest to highest)" of `values`, two decimals; "-" when there are none.
pub fn summary(values: &[f64]) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let Some((first, last)) = v.first().zip(v.last()) else {
        return "-".into();
    };
    let middle = v.len() / 2;
    let median = if v.len().is_multiple_of(2) {
        (v[middle - 1] + v[middle]) / 2.0
    } else {
        v[middle]
    };
    format!("{median:.2} ({first:.2} to {last:.2})")
}
