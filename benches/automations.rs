//! Automations, in the same run as their baselines:
//!
//! - **cost per event** with no automations, with 1 and with 1,000 that cannot match
//!   the events (each expects a name of its own; one in ten a `name.*` prefix): events
//!   ingested through the bus until the automations' actor has handled every one;
//! - **lateness of proactive firings** with 10,000 windows armed at once (one bucket
//!   per resource, opened over one second, each closing 10 s later): when each
//!   `prefect.automation.triggered` reaches a subscriber, against the end of its
//!   window; baseline, 10,000 tokio `sleep_until`s at the same deadlines.
//!
//! Real time, one actix system on this machine's cores.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use workbus_automations::{
    Action, AutomationSpec, Automations, AutomationsConfig, EventTrigger, Posture,
};
use workbus_core::testing::client_event;
use workbus_core::{Bus, Deliver, EventFilter, SubscribeOptions};
use workbus_events::{SharedEvent, Timestamp};

const EVENTS: usize = 200_000;
const CHUNK: usize = 1_000;
const ROUNDS: usize = 5;
const BUCKETS: usize = 10_000;
const WINDOW: Duration = Duration::from_secs(10);

fn event(name: &'static str, id: usize, at: Timestamp) -> SharedEvent {
    client_event(name, &format!("acme.thing.{id}"), at)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Nanoseconds per event, best of `ROUNDS`: ingest `EVENTS`, then wait until the
/// automations (if any) have handled them all.
async fn cost(bus: &Bus, automations: Option<&Automations>) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let seen = automations.map(|a| a.stats().events()).unwrap_or(0);
        let start = Instant::now();
        // In chunks, each flushed: a loop that never waits for the registry could pass
        // the gate faster than a lossless subscriber drains (the bus's hard bound).
        for chunk in 0..EVENTS / CHUNK {
            for i in 0..CHUNK {
                bus.ingest(event("acme.tick", chunk * CHUNK + i, bus.clock().now()))
                    .await
                    .unwrap();
            }
            bus.flush().await.unwrap();
        }
        if let Some(a) = automations {
            while a.stats().events() < seen + EVENTS as u64 {
                tokio::time::sleep(Duration::from_micros(50)).await;
            }
        }
        best = best.min(start.elapsed().as_nanos() as f64 / EVENTS as f64);
    }
    best
}

async fn non_matching(n: usize) -> (Bus, Automations) {
    let bus = Bus::start();
    let automations = Automations::start(&bus).await.unwrap();
    for i in 0..n {
        let expect = if i % 10 == 0 {
            format!("acme.other{i}.*")
        } else {
            format!("acme.other.{i}")
        };
        let trigger = EventTrigger::new(Posture::Reactive).expect([expect]);
        automations
            .create(AutomationSpec::new(
                format!("a{i}"),
                trigger,
                vec![Action::DoNothing],
            ))
            .await
            .unwrap();
    }
    (bus, automations)
}

struct Arrivals {
    clock: Arc<dyn workbus_core::Clock>,
    late: Arc<Mutex<Vec<Duration>>>,
}

impl Actor for Arrivals {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1 << 16);
    }
}

impl Handler<Deliver> for Arrivals {
    type Result = ();
    fn handle(&mut self, Deliver(e): Deliver, _: &mut Context<Self>) {
        // The end of the window: the `after` event's time plus the window.
        let opened: Timestamp = e.payload["triggering_event"]["occurred"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(e.occurred);
        let end = opened + WINDOW;
        let now = self.clock.now();
        self.late.lock().unwrap().push(now.since(end));
    }
}

/// Opens `BUCKETS` windows over one second; answers the lateness of each firing.
async fn lateness() -> Vec<Duration> {
    let bus = Bus::start();
    let automations = Automations::start_with(
        &bus,
        AutomationsConfig {
            max_waiting_firings: 2 * BUCKETS,
            ..AutomationsConfig::default()
        },
    )
    .await
    .unwrap();
    let trigger = EventTrigger::new(Posture::Proactive)
        .after(["acme.open"])
        .expect(["acme.close"])
        .for_each(["prefect.resource.id"])
        .within(WINDOW)
        .unwrap();
    automations
        .create(AutomationSpec::new("stays open", trigger, vec![]))
        .await
        .unwrap();
    let late = Arc::new(Mutex::new(Vec::with_capacity(BUCKETS)));
    let arrivals = Arrivals {
        clock: bus.clock().clone(),
        late: late.clone(),
    }
    .start();
    let _sub = bus
        .subscribe(
            arrivals.recipient(),
            SubscribeOptions::new("arrivals")
                .filter(EventFilter::prefix(["prefect.automation.triggered"])),
        )
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..BUCKETS {
        // Spread over one second, as a fleet's windows would be.
        let due = Duration::from_secs(1) * i as u32 / BUCKETS as u32;
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        bus.ingest(event("acme.open", i, bus.clock().now()))
            .await
            .unwrap();
    }
    while late.lock().unwrap().len() < BUCKETS && start.elapsed() < WINDOW * 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut late = late.lock().unwrap().clone();
    assert_eq!(late.len(), BUCKETS, "every window fired");
    late.sort_unstable();
    late
}

/// The baseline: tokio timers at the same deadlines, spread the same way.
async fn sleep_until_lateness() -> Vec<Duration> {
    let late = Arc::new(Mutex::new(Vec::with_capacity(BUCKETS)));
    let start = tokio::time::Instant::now();
    for i in 0..BUCKETS {
        let due = start + Duration::from_secs(1) * i as u32 / BUCKETS as u32;
        tokio::time::sleep_until(due).await;
        let deadline = tokio::time::Instant::now() + WINDOW;
        let late = late.clone();
        actix::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            late.lock().unwrap().push(deadline.elapsed());
        });
    }
    while late.lock().unwrap().len() < BUCKETS {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut late = late.lock().unwrap().clone();
    late.sort_unstable();
    late
}

async fn run() {
    let bare = Bus::start();
    let base = cost(&bare, None).await;
    let (bus0, a0) = non_matching(0).await;
    let zero = cost(&bus0, Some(&a0)).await;
    let (bus1, a1) = non_matching(1).await;
    let one = cost(&bus1, Some(&a1)).await;
    let (bus1k, a1k) = non_matching(1_000).await;
    let thousand = cost(&bus1k, Some(&a1k)).await;
    println!("automations/cost per event (best of {ROUNDS} x {EVENTS} events):");
    println!("  bus without automations          {base:>8.0} ns");
    println!("  automations, none created        {zero:>8.0} ns");
    println!("  1 automation that cannot match   {one:>8.0} ns");
    println!(
        "  1,000 that cannot match          {thousand:>8.0} ns   ratio to 1: {:.2}",
        thousand / one
    );
    drop((a0, a1, a1k));

    let ours = lateness().await;
    let base = sleep_until_lateness().await;
    println!("automations/lateness of {BUCKETS} proactive firings (window end -> subscriber):");
    for (name, l) in [("workbus", &ours), ("tokio sleep_until", &base)] {
        println!(
            "  {name:<18} p50 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}",
            percentile(l, 0.5),
            percentile(l, 0.99),
            l[l.len() - 1]
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` from the harness is ignored.
    actix::System::new().block_on(run());
}
