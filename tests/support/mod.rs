//! Shared helpers for the integration tests: a collecting subscriber on a real actix system.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use serde_json::Value;
use workbus::{Bus, Deliver, EventFilter, SharedEvent, SubscribeOptions};

/// A subscriber that keeps every event it receives.
pub struct Collector {
    pub events: Arc<Mutex<Vec<SharedEvent>>>,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Collector {
    type Result = ();
    fn handle(&mut self, Deliver(e): Deliver, _: &mut Context<Self>) {
        self.events.lock().unwrap().push(e);
    }
}

/// A handle on what a [`Collector`] received.
#[derive(Clone)]
pub struct Seen(pub Arc<Mutex<Vec<SharedEvent>>>);

impl Seen {
    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event.to_string())
            .collect()
    }
    pub fn json(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_slice(e.json()).unwrap())
            .collect()
    }
    pub fn events(&self) -> Vec<SharedEvent> {
        self.0.lock().unwrap().clone()
    }
    pub fn take(&self) -> Vec<SharedEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    pub fn take_names(&self) -> Vec<String> {
        self.take().iter().map(|e| e.event.to_string()).collect()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Subscribes a new collector with `filter`.
pub async fn collect(bus: &Bus, filter: EventFilter) -> Seen {
    let events = Arc::new(Mutex::new(Vec::new()));
    let addr = Collector {
        events: events.clone(),
    }
    .start();
    bus.subscribe(
        addr.recipient(),
        SubscribeOptions::new("collector").filter(filter),
    )
    .await
    .unwrap()
    .keep();
    Seen(events)
}

/// Waits until the registry has handed everything over and the collectors have run.
pub async fn settle(bus: &Bus) {
    bus.flush().await.unwrap();
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// Runs `f` on a fresh actix system whose tokio clock starts paused.
pub fn paused<F, Fut>(f: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let sys = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    });
    sys.block_on(f());
}

/// The wall-clock instant every paused test starts at.
pub const T0: &str = "2026-12-01T00:00:00.000000Z";

/// A bus on a clock that reads [`T0`] at start and moves only with tokio's paused time.
pub fn bus_at_t0(config: workbus::BusConfig) -> Bus {
    Bus::builder()
        .config(config)
        .clock(std::sync::Arc::new(workbus::TokioClock::starting_at(
            T0.parse().unwrap(),
        )))
        .start()
}

/// `T0` plus `secs` seconds, formatted as Prefect does.
pub fn at(secs: f64) -> String {
    let t: workbus::Timestamp = T0.parse().unwrap();
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
