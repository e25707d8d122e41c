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
        self.0.lock().unwrap().iter().map(|e| e.event.to_string()).collect()
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
    let addr = Collector { events: events.clone() }.start();
    bus.subscribe(addr.recipient(), SubscribeOptions::new("collector").filter(filter))
        .await
        .unwrap();
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
