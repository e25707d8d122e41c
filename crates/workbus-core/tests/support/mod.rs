//! Shared helpers for the core's integration tests: the kit of `workbus_core::testing`
//! (paused time, collecting subscribers) and Prefect's labels and JSON at a fixed instant.
#![allow(dead_code, unused_imports)]

use serde_json::Value;
use workbus_core::{Bus, SharedEvent};

pub use workbus_core::testing::{collect, collector, paused, settle, Events};

/// The wall-clock instant every paused test starts at.
pub const T0: &str = "2026-12-01T00:00:00.000000Z";

/// A bus on a clock that reads [`T0`] at start and moves only with tokio's paused time.
pub fn bus_at_t0(config: workbus_core::BusConfig) -> Bus {
    Bus::builder()
        .config(config)
        .clock(std::sync::Arc::new(workbus_core::TokioClock::starting_at(
            T0.parse().unwrap(),
        )))
        .start()
}

/// A bus at [`T0`] with one `process` pool, `etl`, and a subscriber that
/// collects every event from then on (the pool's creation is not among them).
pub async fn watched_etl() -> (Bus, workbus_core::testing::Collected) {
    let bus = bus_at_t0(workbus_core::BusConfig::default());
    bus.create_pool(workbus_core::CreatePool::new("etl", "process"))
        .await
        .expect("the pool is created");
    let seen = collect(&bus, workbus_core::EventFilter::all()).await;
    (bus, seen)
}

/// A bus on `store`, as a process that starts at `at` opens it (a restart, when
/// the store already holds what an earlier bus wrote).
pub fn open(store: &std::sync::Arc<workbus_store::MemoryStore>, at: &str) -> Bus {
    Bus::builder()
        .config(workbus_core::BusConfig::default())
        .clock(std::sync::Arc::new(workbus_core::TokioClock::starting_at(
            at.parse().unwrap(),
        )))
        .open(store.clone() as std::sync::Arc<dyn workbus_store::Store>)
        .expect("the bus opens its store")
}

/// `T0` plus `secs` seconds, formatted as Prefect does.
pub fn at(secs: f64) -> String {
    let t: workbus_core::Timestamp = T0.parse().unwrap();
    t.add(std::time::Duration::from_secs_f64(secs)).to_string()
}

/// The related entry (and status-event resource plus role) of a pool.
pub fn pool_labels(id: uuid::Uuid, name: &str, pool_type: &str, role: bool) -> Value {
    let mut v = serde_json::json!({
        "prefect.resource.id": format!("prefect.work-pool.{id}"),
        "prefect.resource.name": name,
        "prefect.work-pool.type": pool_type,
    });
    if role {
        v["prefect.resource.role"] = "work-pool".into();
    }
    v
}

/// A queue's resource.
pub fn queue_labels(id: uuid::Uuid, name: &str) -> Value {
    serde_json::json!({
        "prefect.resource.id": format!("prefect.work-queue.{id}"),
        "prefect.resource.name": name,
        "prefect.resource.role": "work-queue",
    })
}

/// Asserts an event's whole JSON, taking its `id` from the event itself
/// (checked to be a UUID v7) and filling `received` with `occurred`.
pub fn assert_json(e: &SharedEvent, mut want: Value) {
    assert_eq!(e.id.get_version_num(), 7, "event ids are UUID v7");
    want["id"] = e.id.to_string().into();
    if want.get("follows").is_none() {
        want["follows"] = Value::Null;
    }
    if want.get("related").is_none() {
        want["related"] = serde_json::json!([]);
    }
    if want.get("payload").is_none() {
        want["payload"] = serde_json::json!({});
    }
    want["received"] = want["occurred"].clone();
    // Compare as text too, so that field and label order are checked, not only content.
    let order = [
        "occurred", "event", "resource", "related", "payload", "id", "follows", "received",
    ];
    let mut ordered = serde_json::Map::new();
    for k in order {
        ordered.insert(k.to_owned(), want[k].clone());
    }
    let got = String::from_utf8(e.json().to_vec()).unwrap();
    assert_eq!(got, Value::Object(ordered).to_string());
}
