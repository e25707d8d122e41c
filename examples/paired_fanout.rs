//! The paired fan-out measurement of `benches/fanout.rs`, in the orders given, to see what
//! each contender leaves the next in the heap they share: workbus (0), raw actix (1) and
//! actix-broker (2), all carrying the same events, at N subscribers, in one system.
//!
//! ```text
//! cargo run --release --example paired_fanout -- N ORDER ROUNDS
//! ```
//!
//! `ORDER` is `all` (the six orders in turn, as the bench runs them) or the contenders of
//! every round, in order: `012` runs workbus after the broker of the round before, `021`
//! after raw actix, `2` the broker alone. Each sample starts from a fresh heap
//! (`malloc_trim`), as in the bench, unless `KEEP_HEAP` is set. It prints each contender's
//! samples in M deliveries per second and, where both ran, the median of workbus's
//! throughput over each peer's in the same round.

#[path = "../benches/support/mod.rs"]
mod support;

use support::paired::{measure, summary, ALL_ORDERS, CONTENDERS};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(512);
    let order = args.next().unwrap_or_else(|| "all".into());
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(24);
    let fixed: Vec<usize> = order
        .bytes()
        .filter_map(|b| b.checked_sub(b'0').map(usize::from))
        .filter(|&who| who < CONTENDERS.len())
        .collect();
    let orders: Vec<&[usize]> = if order == "all" {
        ALL_ORDERS.to_vec()
    } else {
        vec![&fixed]
    };
    let events = (1_000_000 / n.max(1)).min(10_000);
    let fresh = std::env::var_os("KEEP_HEAP").is_none();
    let p = measure(n, 100, events, &orders, rounds, fresh);
    println!("N = {n}, order {order}, {rounds} rounds of {events} events, fresh heap: {fresh}");
    for (who, rates) in p.rates.iter().enumerate() {
        if rates.is_empty() {
            continue;
        }
        let samples: Vec<String> = rates.iter().map(|r| format!("{r:.1}")).collect();
        println!(
            "{:>12}: {}  [{}]",
            CONTENDERS[who],
            summary(rates),
            samples.join(" ")
        );
    }
    println!(
        "workbus / raw actix {}; workbus / actix-broker {}",
        summary(&p.over_raw),
        summary(&p.over_broker)
    );
}
