//! An event's `emitted_at` (what delivery latency is measured from) is the instant the
//! pool's actor read the clock to stamp the event: never before the operation was asked
//! for, never after it was delivered, in real time and with the default clock or any other.

mod support;

use std::sync::Arc;
use std::time::Instant;

use support::*;
use workbus_core::{Bus, CreatePool, EventFilter, PoolUpdate, SystemClock};

async fn pause_between_two_instants(bus: Bus) {
    bus.create_pool(CreatePool::new("etl", "process"))
        .await
        .unwrap();
    let seen = collect(&bus, EventFilter::all()).await;
    let before = Instant::now();
    bus.update_pool_nowait("etl", PoolUpdate::pause()).unwrap();
    bus.update_pool("etl", PoolUpdate::resume().description("d"))
        .await
        .unwrap();
    settle(&bus).await;
    let after = Instant::now();
    let events = seen.events();
    let names: Vec<&str> = events.iter().map(|e| &*e.event).collect();
    assert_eq!(
        names,
        [
            "prefect.work-pool.paused",
            "prefect.work-pool.updated",
            "prefect.work-pool.not-ready"
        ]
    );
    for e in &events {
        assert!(
            before <= e.emitted_at() && e.emitted_at() <= after,
            "{} taken in at {:?}, outside [{before:?}, {after:?}]",
            e.event,
            e.emitted_at()
        );
    }
}

#[actix_rt::test]
async fn with_the_default_clock_one_reading_stamps_both() {
    pause_between_two_instants(Bus::start()).await;
}

#[actix_rt::test]
async fn with_another_clock_the_instant_is_read_apart() {
    pause_between_two_instants(Bus::builder().clock(Arc::new(SystemClock)).start()).await;
}
