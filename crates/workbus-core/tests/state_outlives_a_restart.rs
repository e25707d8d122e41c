//! With a store, a restarted bus has every pool, queue, worker and status the
//! first one had, answers exactly as it did, and emits nothing for coming back.
//! (Paused time and a `MemoryStore` shared by the two buses; the server's tests
//! do the same with the redb store and a real process.)

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::open;
use workbus_core::testing::{advance, collect, paused, settle};
use workbus_core::{
    Bus, CreatePool, CreateQueue, EventFilter, Heartbeat, HeartbeatInterval, PoolUpdate,
    QueueUpdate,
};
use workbus_store::{MemoryStore, Store};

/// Everything a client can read of the fleet.
async fn fleet(bus: &Bus) -> serde_json::Value {
    let mut out = Vec::new();
    for pool in bus.pools().await {
        let queues = bus.queues(&pool.name).await.unwrap();
        let workers = bus.workers(&pool.name).await.unwrap();
        out.push(json!({
            "pool": serde_json::to_value(&pool).unwrap(),
            "queues": serde_json::to_value(&queues).unwrap(),
            "workers": serde_json::to_value(&workers).unwrap(),
        }));
    }
    json!(out)
}

#[test]
fn the_fleet_and_its_events_come_back_as_they_were() {
    let store = Arc::new(MemoryStore::new());
    let (before, events) = paused(|| async {
        let bus = open(&store, "2026-12-01T00:00:00Z");
        let mut etl = CreatePool::new("etl", "process");
        etl.base_job_template = json!({"job_configuration": {"command": "{{ command }}"}})
            .as_object()
            .unwrap()
            .clone();
        etl.concurrency_limit = Some(4);
        bus.create_pool(etl).await.unwrap();
        bus.create_pool(CreatePool::new("ml", "kubernetes").paused())
            .await
            .unwrap();
        let mut high = CreateQueue::new("high");
        high.priority = Some(1);
        bus.create_queue("etl", high).await.unwrap();
        bus.create_queue("etl", CreateQueue::new("low"))
            .await
            .unwrap();
        bus.update_queue("etl", "low", QueueUpdate::new().description("batch"))
            .await
            .unwrap();
        let every = HeartbeatInterval::from_secs(10).unwrap();
        bus.heartbeat("etl", Heartbeat::new("w1").every(every))
            .await
            .unwrap();
        bus.heartbeat("etl", "w2").await.unwrap();
        bus.poll("etl", ["high"]).await.unwrap();
        bus.update_pool("ml", PoolUpdate::new().description("gpu"))
            .await
            .unwrap();
        advance(&bus, Duration::from_secs(1)).await;
        bus.flush().await.unwrap();
        let events: Vec<String> = store
            .load()
            .unwrap()
            .events
            .iter()
            .map(|e| String::from_utf8(e.json.clone()).unwrap())
            .collect();
        (fleet(&bus).await, events)
    });
    // etl: default created, created, not-ready; ml: default created, created, paused;
    // high created, default moved to 2; low created, low updated; etl ready; high
    // ready; ml updated.
    assert_eq!(events.len(), 13, "{events:#?}");
    let stored: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    // Queue events carry their pool as related resource on disk too.
    let high_ready = stored
        .iter()
        .find(|e| e["event"] == "prefect.work-queue.ready")
        .expect("the queue's ready is stored");
    assert_eq!(high_ready["related"][0]["prefect.resource.name"], "etl");

    // A second after the first bus stopped: everything is there, nothing is emitted.
    paused(|| async {
        let bus = open(&store, "2026-12-01T00:00:02Z");
        let seen = collect(&bus, EventFilter::all()).await;
        settle(&bus).await;
        assert_eq!(fleet(&bus).await, before);
        assert!(seen.events().is_empty(), "{:?}", seen.events());
        assert_eq!(store.load().unwrap().events.len(), events.len());
        // And it goes on: a change is answered, stored and announced as before.
        bus.update_pool("etl", PoolUpdate::new().concurrency_limit(Some(8)))
            .await
            .unwrap();
        settle(&bus).await;
        assert_eq!(seen.names(), ["prefect.work-pool.updated"]);
        assert_eq!(store.load().unwrap().events.len(), events.len() + 1);
    });
}
